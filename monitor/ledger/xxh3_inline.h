/* XXH3 from the vendored header, inlined into the compiled ledger core (monitor/ledger/_batch.pyx). */
#ifndef HOPWATCH_XXH3_INLINE_H
#define HOPWATCH_XXH3_INLINE_H
#define XXH_INLINE_ALL
#include "vendor/xxhash.h"
#endif
