// SPDX-License-Identifier: MIT
// Conformance: placeholder.
#include "conformance/harness.hpp"
