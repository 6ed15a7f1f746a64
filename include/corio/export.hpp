// SPDX-License-Identifier: MIT
// Symbol visibility for corio's public ABI (the library is built with hidden visibility).
#pragma once

#if defined(_WIN32)
#define CORIO_EXPORT
#else
#define CORIO_EXPORT [[gnu::visibility("default")]]
#endif
