// Offline tools for a store that may be damaged (issue 12): a read-only full
// verification, and a salvage that copies what can be read into a new store.
// Neither writes to the store it reads (LMDB opened read-only).
#pragma once

#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace taskctl {

struct StoreReport {
  uint64_t records = 0;             // values read whole and sound
  kj::Vector<kj::String> problems;  // --check-store: what is wrong, one line each
  kj::Vector<kj::String> dropped;   // --salvage-store: what was not copied, and why
};

StoreReport checkStore(kj::StringPtr dir);
// Every value of every table: checksum, decoded with the daemon's limits,
// its key matching its record; the indexes (active, finished,
// requests-by-age) agreeing with the records; the meta's next id above every
// task id. Sound when `problems` is empty.

StoreReport salvageStore(kj::StringPtr dir, kj::StringPtr outDir);
// Copies every record that reads whole into a new store at `outDir` (which
// must not exist, or be an empty directory), rebuilding its indexes from the
// tasks. Throws if the new store cannot be made.

}  // namespace taskctl
