// SPDX-License-Identifier: MIT
// The umbrella header: the whole public API of corio.
#pragma once

#include <corio/backend.hpp>
#include <corio/cancel.hpp>
#include <corio/condition.hpp>
#include <corio/error.hpp>
#include <corio/event.hpp>
#include <corio/fault.hpp>
#include <corio/file.hpp>
#include <corio/future.hpp>
#include <corio/group.hpp>
#include <corio/io.hpp>
#include <corio/io_uring.hpp>
#include <corio/mutex.hpp>
#include <corio/net.hpp>
#include <corio/queue.hpp>
#include <corio/reader.hpp>
#include <corio/select.hpp>
#include <corio/semaphore.hpp>
#include <corio/signal.hpp>
#include <corio/simulated.hpp>
#include <corio/task.hpp>
#include <corio/threaded.hpp>
#include <corio/time.hpp>
#include <corio/timeout.hpp>
#include <corio/writer.hpp>
