// The store's environment: opening it (and refusing a store that is
// damaged, inconsistent or newer), the map and its growth, and what turns
// corruption into a refusal to start or a read-only store.
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <lmdb.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "store/store-tables.h"
#include "store/store.h"

namespace taskctl {

using namespace lmdb;

namespace {

// LMDB asserts (and aborts) on some inconsistent pages, e.g. a zeroed leaf
// met by a cursor walk. Its callback runs first: turn the assert into the
// corruption it is. Unwinding through liblmdb's C frames is safe on this
// ABI (they have unwind tables and hold no locks on a read path); the
// transaction is aborted by its owner as the exception passes.
void onLmdbAssert(MDB_env* env, const char* message) {
  auto store = static_cast<Store*>(mdb_env_get_userctx(env));
  store->failCorrupt(kj::str("LMDB met an inconsistent page: ", message));
}

// The map size to retry with after MDB_MAP_FULL (no transaction may be open).
size_t grownMapSize(size_t current, size_t max, kj::StringPtr path) {
  if (current >= max) {
    overloaded(kj::str("store full: ", path, " reached its maximum size of ", current, " bytes"));
  }
  return kj::min(current * 2, max);
}

}  // namespace

void throwOnLmdbAssert(MDB_env*, const char* message) {
  refuse(kj::str("LMDB met an inconsistent page: ", message));
}

Store::Store(kj::StringPtr dirArg, StoreOptions options)
    : dir(kj::str(dirArg)),
      dataFile(kj::str(dirArg, "/data.mdb")),
      options(options),
      mapSize(options.initialMapBytes) {
  KJ_SYSCALL_HANDLE_ERRORS(mkdir(dir.cStr(), 0700)) {
    case EEXIST:
      break;
    default:
      KJ_FAIL_SYSCALL("mkdir", error, "cannot create store directory", dir);
  }
  // Before LMDB maps anything: it would fault (SIGBUS) on a page past the end
  // of a truncated file, and take an empty one for a new store.
  checkFileSize();
  check(*this, mdb_env_create(&env), "create environment");
  KJ_ON_SCOPE_FAILURE({
    mdb_env_close(env);
    env = nullptr;
  });
  mdb_env_set_userctx(env, this);
  check(*this, mdb_env_set_assert(env, onLmdbAssert), "set assert");
  // Ten tables today, and room to add a few without revisiting this.
  check(*this, mdb_env_set_maxdbs(env, 16), "set maxdbs");
  // A store written by an earlier run may be larger than our initial map.
  struct stat st;
  if (stat(dataFile.cStr(), &st) == 0 && static_cast<size_t>(st.st_size) > mapSize) {
    while (mapSize < static_cast<size_t>(st.st_size)) mapSize *= 2;
  }
  check(*this, mdb_env_set_mapsize(env, mapSize), "set map size");
  // Default durability on purpose: never MDB_NOSYNC, MDB_MAPASYNC or
  // MDB_WRITEMAP (a full disk would kill us with SIGBUS under WRITEMAP).
  int rc = mdb_env_open(env, dir.cStr(), MDB_NOTLS, 0600);
  if (isCorruption(rc)) failCorrupt(kj::str("LMDB cannot open it: ", mdb_strerror(rc)));
  if (rc != MDB_SUCCESS) {
    refuse(kj::str("cannot open the store at ", dir, ": ", mdb_strerror(rc),
                   " (refusing to start; the store is left as it is)"));
  }
  for (;;) {
    try {
      openAndCheck();
      break;
    } catch (const MapFull&) {
      // The transaction was aborted; nothing of it reached the disk.
      growMap();
    }
  }
  if (!options.refuseUntilServing) opening = false;
}

Store::~Store() noexcept(false) {
  if (env != nullptr) mdb_env_close(env);
}

kj::Maybe<kj::StringPtr> Store::corruption() const {
  KJ_IF_MAYBE (c, corrupted) return kj::StringPtr(*c);
  return nullptr;
}

void Store::requireWritable() const {
  KJ_IF_MAYBE (c, corrupted) {
    overloaded(kj::str(*c));
  }
}

void Store::failCorrupt(kj::StringPtr detail) {
  if (opening) {
    refuse(kj::str("the store ", dataFile, " is corrupt (", detail,
                   "); refusing to start, and the file is left untouched. Back it up first "
                   "(mdb_copy ",
                   dir,
                   " BACKUP-DIR, or copy the directory), then copy every "
                   "readable record into a new store with `taskctld --salvage-store NEW-DIR` and "
                   "put NEW-DIR in place of ",
                   dir, "; `taskctld --check-store` lists the damage"));
  }
  if (corrupted == nullptr) {
    auto message = kj::str("the store ", dataFile, " is corrupt (", detail,
                           "); taskctld is read-only until it is repaired: stop it, back up ", dir,
                           " with mdb_copy, then run taskctld --salvage-store NEW-DIR");
    KJ_LOG(ERROR, message);
    corrupted = kj::mv(message);
  }
  requireWritable();
  KJ_UNREACHABLE;
}

const void* Store::mapAddress() {
  if (mapBase != nullptr) return mapBase;
  // The first leaf of LMDB's main table (the names of ours), read in its own
  // transaction so that it is a mapped page, never a write's copy.
  MDB_txn* txn;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != MDB_SUCCESS) return nullptr;
  KJ_DEFER(mdb_txn_abort(txn));
  MDB_cursor* cursor;
  if (mdb_cursor_open(txn, 1 /* MAIN_DBI */, &cursor) != MDB_SUCCESS) return nullptr;
  KJ_DEFER(mdb_cursor_close(cursor));
  MDB_val key, val;
  int rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
  if (rc == MDB_NOTFOUND) return nullptr;
  check(*this, rc, "read the table of tables");
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &stat);
  size_t psize = stat.ms_psize;
  auto page = reinterpret_cast<uintptr_t>(key.mv_data) & ~uintptr_t(psize - 1);
  uint64_t pgno;
  memcpy(&pgno, reinterpret_cast<const void*>(page), sizeof(pgno));  // MDB_page starts with it
  if (pgno > info.me_last_pgno || pgno * psize > page) {
    failCorrupt(kj::str("the page of LMDB's table of tables names itself page ", pgno));
  }
  mapBase = reinterpret_cast<const void*>(page - pgno * psize);
  return mapBase;
}

void Store::setDrainState(const DrainState& state) {
  drain = state;
  drainStaged = true;
}

void Store::raiseNextId(uint64_t next) {
  if (next > nextId) nextId = next;
}

void Store::checkFileSize() {
  KJ_IF_MAYBE (problem, storeFileProblem(dataFile)) failCorrupt(*problem);
}

kj::Maybe<kj::String> storeFileProblem(kj::StringPtr dataFile) {
  int fd;
  KJ_SYSCALL_HANDLE_ERRORS(fd = open(dataFile.cStr(), O_RDONLY | O_CLOEXEC)) {
    case ENOENT:
      return nullptr;  // a new store
    default:
      KJ_FAIL_SYSCALL("open", error, "cannot open the store's data file", dataFile);
  }
  KJ_DEFER(close(fd));
  struct stat st;
  KJ_SYSCALL(fstat(fd, &st), dataFile);
  uint64_t size = st.st_size;
  // LMDB's two meta pages: an MDB_page header (16 bytes), then MDB_meta:
  // magic, version, address, mapsize, two MDB_db (the first one's md_pad is
  // the page size), last page, txnid. Layout of LMDB 0.9 on a 64-bit host.
  constexpr uint32_t MAGIC = 0xBEEFC0DE;
  constexpr size_t HEADER = 152, MAGIC_AT = 16, VERSION_AT = 20, PSIZE_AT = 40, LAST_PAGE_AT = 136,
                   TXNID_AT = 144;
  auto readMeta = [&](uint64_t offset, kj::byte(&buf)[HEADER]) {
    if (size < offset + HEADER || pread(fd, buf, HEADER, offset) != ssize_t(HEADER)) {
      return false;
    }
    return true;
  };
  auto tooShort = [&]() {
    return kj::str("it is ", size, " bytes long, too short for LMDB's meta pages");
  };
  auto u32 = [](const kj::byte* p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
  };
  auto u64 = [](const kj::byte* p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
  };
  kj::byte first[HEADER], second[HEADER];
  if (!readMeta(0, first)) return tooShort();
  uint32_t psize = u32(first + PSIZE_AT);
  if (u32(first + MAGIC_AT) != MAGIC || u32(first + VERSION_AT) != 1 || psize < 512 ||
      psize > 65536 || (psize & (psize - 1)) != 0) {
    return kj::str("its first meta page is not an LMDB meta page");
  }
  if (!readMeta(psize, second)) return tooShort();
  if (u32(second + MAGIC_AT) != MAGIC || u32(second + VERSION_AT) != 1) {
    return kj::str("its second meta page is not an LMDB meta page");
  }
  // LMDB uses the meta with the higher transaction id.
  auto& meta = u64(first + TXNID_AT) >= u64(second + TXNID_AT) ? first : second;
  uint64_t lastPage = u64(meta + LAST_PAGE_AT);
  if (lastPage >= size / psize) {
    return kj::str("it is ", size, " bytes long but its meta counts ", lastPage + 1, " pages of ",
                   psize, " bytes: the file was truncated");
  }
  return nullptr;
}

void Store::growMap() {
  auto grown = grownMapSize(mapSize, options.maxMapBytes, dir);
  // LMDB unmaps before it maps again: a map it cannot get leaves it with
  // none, so try for the address space first and keep the old map on failure.
  void* probe = mmap(nullptr, grown, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) {
    // OVERLOADED with the store's words, not KJ_SYSCALL's (mmap returns no -1).
    overloaded(kj::str("store full (", dir, "): cannot grow the map from ", mapSize, " to ", grown,
                       " bytes: ", strerror(errno)));
  }
  munmap(probe, grown);
  mapBase = nullptr;  // the map may move
  int rc = mdb_env_set_mapsize(env, grown);
  if (rc != MDB_SUCCESS) {
    // Whatever LMDB holds now is what we account for.
    MDB_envinfo info;
    mdb_env_info(env, &info);
    mapSize = info.me_mapsize;
    check(*this, rc, "grow map");
  }
  mapSize = grown;
}

void Store::openAndCheck() {
  MDB_txn* txn;
  check(*this, mdb_txn_begin(env, nullptr, 0, &txn), "begin");
  // Every read here comes before any write: a store refused as corrupt or
  // inconsistent leaves this transaction aborted and the file as it was.
  KJ_DEFER(if (txn != nullptr) mdb_txn_abort(txn));
  auto openDb = [&](const char* name, unsigned& dbi) {
    checkOpen(*this, mdb_dbi_open(txn, name, MDB_CREATE, &dbi), kj::str("open table ", name));
  };
  openDb("meta", metaDb);
  openDb("tasks", tasksDb);
  openDb("attempts", attemptsDb);
  openDb("active", activeDb);
  openDb("finished", finishedDb);
  openDb("tombstones", tombstonesDb);
  openDb("requests", requestsDb);
  openDb("requests-by-age", requestsByAgeDb);
  openDb("queues", queuesDb);
  openDb("events", eventsDb);

  // The highest stored id, to check the counter against.
  uint64_t maxId = 0;
  {
    Cursor cursor(*this, txn, tasksDb);
    MDB_val key, val;
    int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_LAST);
    if (rc == MDB_SUCCESS) {
      if (key.mv_size != 8) failCorrupt("a task key is not 8 bytes");
      maxId = readId(static_cast<const kj::byte*>(key.mv_data));
    } else if (rc != MDB_NOTFOUND) {
      check(*this, rc, "find the highest task id");
    }
  }

  MDB_val key = asVal(META_KEY.asBytes()), val;
  int rc = mdb_get(txn, metaDb, &key, &val);
  if (rc == MDB_NOTFOUND) {
    if (maxId != 0) {
      refuse(kj::str("store at ", dir, " holds tasks but no meta record; refusing to start"));
    }
    putOpen(*this, txn, metaDb, META_KEY.asBytes(), metaRecord(1), "write meta");
    commitOpen(*this, txn, "commit meta");
    nextId = committedNextId = 1;
    return;
  }
  check(*this, rc, "read meta");
  checkBounds(*this, mapBounds(*this, env), "meta", key, val, true);
  // Format 3 seals the meta like every record; formats 1 and 2 did not. A
  // Cap'n Proto message is whole words, so the two cannot be mistaken.
  auto bytes = bytesOf(val);
  bool sealed = bytes.size() % sizeof(capnp::word) == STORE_CHECKSUM_BYTES;
  if (sealed) {
    KJ_IF_MAYBE (payload, unsealValue(META_KEY.asBytes(), bytes)) {
      bytes = *payload;
    } else {
      failCorrupt("checksum mismatch in the meta record");
    }
  }
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.begin(), words.size() * sizeof(capnp::word));
  uint64_t storedNext;
  uint32_t version;
  DrainState storedDrain;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
                 auto meta = reader.getRoot<records::Meta>();
                 version = meta.getFormatVersion();
                 storedNext = meta.getNextId();
                 storedDrain.drained = meta.getDrained();
                 storedDrain.by = meta.getDrainedBy();
                 storedDrain.at = meta.getDrainedAt();
               })) {
    failCorrupt(kj::str("its meta record is unreadable: ", e->getDescription()));
  }
  if (version > records::FORMAT_VERSION) {
    refuse(kj::str("store at ", dir, " has format version ", version,
                   ", newer than this taskctld knows (", records::FORMAT_VERSION,
                   "); refusing to start: upgrade taskctl"));
  }
  if (version == 0) {
    refuse(
        kj::str("store at ", dir, " has no format version in its meta record; refusing to start"));
  }
  if (sealed != (version >= 3)) {
    failCorrupt(kj::str("its meta record says format ", version, " but is ", sealed ? "" : "not ",
                        "checksummed"));
  }
  if (storedNext <= maxId) {
    refuse(kj::str("store at ", dir, " is inconsistent: next id ", storedNext,
                   " is not above the highest stored id ", maxId, "; refusing to start"));
  }
  // The daemon's recovery reads every active task right after this, before
  // anything is written: it verifies them there (forEachActiveTask while
  // opening), so a million of them are read once, not twice. An upgrade
  // writes, so an older store is verified here whatever the caller.
  if (!options.refuseUntilServing || version < records::FORMAT_VERSION) {
    verifyActive(txn, version);
  }
  drain = committedDrain = storedDrain;  // before an upgrade, which rewrites the meta
  if (version < records::FORMAT_VERSION) upgradeFormat(txn, version, storedNext);
  nextId = committedNextId = storedNext;
  // Commit, not abort: table handles opened in an aborted transaction are void.
  // A current store with every table present leaves the transaction clean,
  // and LMDB then writes nothing.
  commitOpen(*this, txn, "commit open");
}

void Store::releaseMappedPages() {
  // The map is read-only here (no MDB_WRITEMAP: LMDB writes with pwrite), so
  // dropping its pages from this process loses nothing: they stay in the page
  // cache. mmap placed it page-aligned, mapSize long.
  auto base = mapAddress();
  if (base == nullptr) return;  // an empty store: nothing mapped worth dropping
  KJ_SYSCALL_HANDLE_ERRORS(madvise(const_cast<void*>(base), mapSize, MADV_DONTNEED)) {
    default:
      KJ_LOG(WARNING, "madvise(MADV_DONTNEED) on the store's map failed", dir, strerror(error));
  }
}

}  // namespace taskctl
