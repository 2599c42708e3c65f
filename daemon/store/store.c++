#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>

#include "store/crc32c.h"

namespace taskctl {

kj::Array<kj::byte> sealValue(kj::ArrayPtr<const kj::byte> key,
                              kj::ArrayPtr<const kj::byte> payload) {
  auto value = kj::heapArray<kj::byte>(payload.size() + STORE_CHECKSUM_BYTES);
  if (payload.size() > 0) memcpy(value.begin(), payload.begin(), payload.size());
  uint32_t crc = crc32c(crc32c(0, key.begin(), key.size()), payload.begin(), payload.size());
  for (size_t i = 0; i < STORE_CHECKSUM_BYTES; i++) value[payload.size() + i] = crc >> (8 * i);
  return value;
}

kj::Maybe<kj::ArrayPtr<const kj::byte>> unsealValue(kj::ArrayPtr<const kj::byte> key,
                                                    kj::ArrayPtr<const kj::byte> value) {
  if (value.size() < STORE_CHECKSUM_BYTES) return nullptr;
  auto payload = value.slice(0, value.size() - STORE_CHECKSUM_BYTES);
  uint32_t crc = crc32c(crc32c(0, key.begin(), key.size()), payload.begin(), payload.size());
  uint32_t stored = 0;
  for (size_t i = 0; i < STORE_CHECKSUM_BYTES; i++) {
    stored |= uint32_t(value[payload.size() + i]) << (8 * i);
  }
  if (crc != stored) return nullptr;
  return payload;
}

namespace {

// LMDB return codes that mean the file is damaged, not that we erred.
bool isCorruption(int rc) {
  return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
         rc == MDB_VERSION_MISMATCH;
}

// The one checker for LMDB return codes (STYLE: foreign errors stop here).
void check(Store& store, int rc, kj::StringPtr what) {
  if (rc == MDB_SUCCESS) return;
  auto path = store.path();
  if (isCorruption(rc)) store.failCorrupt(kj::str(what, ": ", mdb_strerror(rc)));
  if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) {
    kj::throwFatalException(kj::Exception(kj::Exception::Type::OVERLOADED, __FILE__, __LINE__, kj::str("store full (", path, "): ", what,
                                                              ": ", mdb_strerror(rc))));
  }
  // A store that cannot write is full, not a bad request (exit 75, never
  // 65). LMDB reports a short write as EIO ("short write, filesystem
  // full?"); its writes are plain pwrite calls, which fail this way when the
  // disk, a quota or RLIMIT_FSIZE is out of room.
  if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG || rc == EIO) {
    kj::throwFatalException(kj::Exception(
        kj::Exception::Type::OVERLOADED, __FILE__, __LINE__,
        kj::str("store full: cannot write ", path, " (no space left on its filesystem?): ", what,
                ": ", mdb_strerror(rc))));
  }
  kj::throwFatalException(
      kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("store ", path, ": ", what, ": ", mdb_strerror(rc))));
}

// LMDB asserts (and aborts) on some inconsistent pages, e.g. a zeroed leaf
// met by a cursor walk. Its callback runs first: turn the assert into the
// corruption it is. Unwinding through liblmdb's C frames is safe on this
// ABI (they have unwind tables and hold no locks on a read path); the
// transaction is aborted by its owner as the exception passes.
void onLmdbAssert(MDB_env* env, const char* message) {
  auto store = static_cast<Store*>(mdb_env_get_userctx(env));
  store->failCorrupt(kj::str("LMDB met an inconsistent page: ", message));
}

}  // namespace

void throwOnLmdbAssert(MDB_env*, const char* message) {
  kj::throwFatalException(kj::Exception(
      kj::Exception::Type::FAILED, __FILE__, __LINE__,
      kj::str("LMDB met an inconsistent page: ", message)));
}

namespace {

kj::Array<kj::byte> idKey(uint64_t id) {
  auto key = kj::heapArray<kj::byte>(8);
  for (int i = 0; i < 8; i++) key[i] = id >> (56 - 8 * i);
  return key;
}

uint64_t readId(const kj::byte* p) {
  uint64_t id = 0;
  for (int i = 0; i < 8; i++) id = (id << 8) | p[i];
  return id;
}

// Times are signed: flipping the sign bit makes their big-endian bytes sort
// as the numbers do, so a cursor walk is oldest first even before 1970.
constexpr uint64_t SIGN = 1ull << 63;

void writeTime(kj::byte* p, int64_t time) {
  auto bits = static_cast<uint64_t>(time) ^ SIGN;
  for (int i = 0; i < 8; i++) p[i] = bits >> (56 - 8 * i);
}

int64_t readTime(const kj::byte* p) { return static_cast<int64_t>(readId(p) ^ SIGN); }

void writeUid(kj::byte* p, uint32_t uid) {
  for (int i = 0; i < 4; i++) p[i] = uid >> (24 - 8 * i);
}

uint32_t readUid(const kj::byte* p) {
  uint32_t uid = 0;
  for (int i = 0; i < 4; i++) uid = (uid << 8) | p[i];
  return uid;
}

// finishedAt id: a cursor walk meets the oldest finish first.
kj::Array<kj::byte> finishedKey(int64_t finishedAt, uint64_t id) {
  auto key = kj::heapArray<kj::byte>(16);
  writeTime(key.begin(), finishedAt);
  auto idBytes = idKey(id);
  memcpy(key.begin() + 8, idBytes.begin(), 8);
  return key;
}

// uid requestId: request ids are per user, so the uid is part of the key.
kj::Array<kj::byte> requestKey(uint32_t uid, kj::StringPtr requestId) {
  auto key = kj::heapArray<kj::byte>(4 + requestId.size());
  writeUid(key.begin(), uid);
  memcpy(key.begin() + 4, requestId.begin(), requestId.size());
  return key;
}

// createdAt uid requestId: expiry walks from the oldest and stops at the first
// one still young, and the key alone names the mapping to delete.
kj::Array<kj::byte> requestAgeKey(int64_t createdAt, uint32_t uid, kj::StringPtr requestId) {
  auto key = kj::heapArray<kj::byte>(12 + requestId.size());
  writeTime(key.begin(), createdAt);
  writeUid(key.begin() + 8, uid);
  memcpy(key.begin() + 12, requestId.begin(), requestId.size());
  return key;
}

kj::Array<kj::byte> attemptKey(uint64_t id, uint32_t number) {
  auto key = kj::heapArray<kj::byte>(12);
  for (int i = 0; i < 8; i++) key[i] = id >> (56 - 8 * i);
  for (int i = 0; i < 4; i++) key[8 + i] = number >> (24 - 8 * i);
  return key;
}

// queue NUL rank id: a cursor walk gives dispatch order. rank = 100 - priority,
// so higher priorities sort first.
kj::Array<kj::byte> readyKey(kj::StringPtr queue, int32_t priority, uint64_t id) {
  auto key = kj::heapArray<kj::byte>(queue.size() + 1 + 1 + 8);
  memcpy(key.begin(), queue.begin(), queue.size());
  key[queue.size()] = 0;
  key[queue.size() + 1] = static_cast<kj::byte>(100 - priority);
  auto idBytes = idKey(id);
  memcpy(key.begin() + queue.size() + 2, idBytes.begin(), 8);
  return key;
}

template <typename Reader>
kj::Array<capnp::word> encode(Reader reader) {
  capnp::MallocMessageBuilder message(reader.totalSize().wordCount + 1);
  message.setRoot(reader);
  return capnp::messageToFlatArray(message);
}

MDB_val asVal(kj::ArrayPtr<const kj::byte> bytes) {
  return MDB_val{bytes.size(), const_cast<kj::byte*>(bytes.begin())};
}

kj::ArrayPtr<const kj::byte> bytesOf(const MDB_val& val) {
  return kj::arrayPtr(static_cast<const kj::byte*>(val.mv_data), val.mv_size);
}

// How a key reads in a message about it: an id where the table is keyed by
// one, else the first bytes in hex.
kj::String keyText(kj::StringPtr table, const MDB_val& key) {
  auto bytes = static_cast<const kj::byte*>(key.mv_data);
  if (key.mv_size == 8) return kj::str(table, " ", readId(bytes));
  if (key.mv_size == 12 && table == "attempts") {
    return kj::str("attempts ", readId(bytes), "/", (uint32_t(bytes[8]) << 24) | (bytes[9] << 16) |
                                                       (bytes[10] << 8) | bytes[11]);
  }
  kj::Vector<char> hex;
  for (size_t i = 0; i < kj::min(key.mv_size, size_t(24)); i++) {
    hex.addAll(kj::hex(bytes[i]));
  }
  return kj::str(table, " key ", kj::heapString(hex.begin(), hex.size()));
}

// Where a read transaction's data may lie: the mapped pages the file holds.
// A damaged node can claim a size or an overflow page that reaches past
// them; copying that would fault, so it is corruption instead.
struct Bounds {
  const kj::byte* begin = nullptr;
  const kj::byte* end = nullptr;
};

Bounds mapBounds(Store& store, MDB_env* env) {
  auto begin = static_cast<const kj::byte*>(store.mapAddress());
  if (begin == nullptr) return Bounds{};
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &stat);
  return Bounds{begin, begin + (info.me_last_pgno + 1) * size_t(stat.ms_psize)};
}

// `key` is LMDB's (from a cursor) unless `ownKey`: mdb_get leaves ours.
void checkBounds(Store& store, const Bounds& bounds, kj::StringPtr table, const MDB_val& key,
                 const MDB_val& val, bool ownKey = false) {
  auto inside = [&](const MDB_val& v) {
    auto p = static_cast<const kj::byte*>(v.mv_data);
    return v.mv_size == 0 ||
           (p >= bounds.begin && p <= bounds.end && v.mv_size <= size_t(bounds.end - p));
  };
  if (bounds.begin == nullptr) return;
  if (!ownKey && !inside(key)) store.failCorrupt(kj::str("a key in table ", table, " lies outside the file"));
  if (!inside(val)) {
    store.failCorrupt(kj::str("the value of ", keyText(table, key), " lies outside the file"));
  }
}

// A format-3 record: checksum verified, then copied word-aligned.
kj::Array<capnp::word> recordWords(Store& store, const Bounds& bounds, kj::StringPtr table,
                                   const MDB_val& key, const MDB_val& val, bool ownKey = false) {
  checkBounds(store, bounds, table, key, val, ownKey);
  KJ_IF_MAYBE(payload, unsealValue(bytesOf(key), bytesOf(val))) {
    if (payload->size() % sizeof(capnp::word) != 0 || payload->size() == 0) {
      store.failCorrupt(kj::str(keyText(table, key), " has a record of ", payload->size(),
                                " bytes, not whole words"));
    }
    auto words = kj::heapArray<capnp::word>(payload->size() / sizeof(capnp::word));
    memcpy(words.begin(), payload->begin(), payload->size());
    return words;
  }
  store.failCorrupt(kj::str("checksum mismatch in ", keyText(table, key)));
}

// A format-3 record, checksum verified on LMDB's bytes, as words: in place
// where they are word-aligned (a record of overflow pages, over ~2 KiB),
// else copied into `scratch`, reused from record to record. Valid while the
// transaction lasts and `scratch` is not reused.
kj::ArrayPtr<const capnp::word> recordView(Store& store, const Bounds& bounds, kj::StringPtr table,
                                           const MDB_val& key, const MDB_val& val,
                                           kj::Vector<capnp::word>& scratch) {
  checkBounds(store, bounds, table, key, val);
  KJ_IF_MAYBE(payload, unsealValue(bytesOf(key), bytesOf(val))) {
    if (payload->size() % sizeof(capnp::word) != 0 || payload->size() == 0) {
      store.failCorrupt(kj::str(keyText(table, key), " has a record of ", payload->size(),
                                " bytes, not whole words"));
    }
    size_t n = payload->size() / sizeof(capnp::word);
    if (reinterpret_cast<uintptr_t>(payload->begin()) % alignof(capnp::word) == 0) {
      return kj::arrayPtr(reinterpret_cast<const capnp::word*>(payload->begin()), n);
    }
    scratch.resize(n);
    memcpy(scratch.begin(), payload->begin(), payload->size());
    return scratch.asPtr();
  }
  store.failCorrupt(kj::str("checksum mismatch in ", keyText(table, key)));
}

// A format-3 index entry: the value is the key's checksum alone.
void checkIndexEntry(Store& store, const Bounds& bounds, kj::StringPtr table, const MDB_val& key,
                     const MDB_val& val) {
  checkBounds(store, bounds, table, key, val);
  KJ_IF_MAYBE(payload, unsealValue(bytesOf(key), bytesOf(val))) {
    if (payload->size() == 0) return;
  }
  store.failCorrupt(kj::str("checksum mismatch in ", keyText(table, key)));
}

// A read transaction that ends with its scope.
struct ReadTxn {
  MDB_txn* txn = nullptr;
  Bounds bounds;
  ReadTxn(Store& store, MDB_env* env) {
    check(store, mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "begin read");
    bounds = mapBounds(store, env);
  }
  ~ReadTxn() { mdb_txn_abort(txn); }
  KJ_DISALLOW_COPY(ReadTxn);
};

struct Cursor {
  MDB_cursor* cursor = nullptr;
  Cursor(Store& store, MDB_txn* txn, MDB_dbi dbi) {
    check(store, mdb_cursor_open(txn, dbi, &cursor), "open cursor");
  }
  ~Cursor() { mdb_cursor_close(cursor); }
  KJ_DISALLOW_COPY(Cursor);
};

constexpr kj::StringPtr META_KEY = "meta"_kj;

kj::Array<kj::byte> metaRecord(uint64_t nextId) {
  capnp::MallocMessageBuilder message;
  auto meta = message.initRoot<records::Meta>();
  meta.setFormatVersion(records::FORMAT_VERSION);
  meta.setNextId(nextId);
  return sealValue(META_KEY.asBytes(), capnp::messageToFlatArray(message).asBytes());
}

// The map size to retry with after MDB_MAP_FULL (no transaction may be open).
size_t grownMapSize(size_t current, size_t max, kj::StringPtr path) {
  if (current >= max) {
    kj::throwFatalException(kj::Exception(
        kj::Exception::Type::OVERLOADED, __FILE__, __LINE__,
        kj::str("store full: ", path, " reached its maximum size of ", current, " bytes")));
  }
  return kj::min(current * 2, max);
}

// Walks `dbi` in key order from the first key at or after `start` (from the
// first key when `start` is empty) until fn returns false.
void walk(Store& store, MDB_txn* txn, MDB_dbi dbi, kj::ArrayPtr<const kj::byte> start,
          kj::FunctionParam<bool(const MDB_val& key, const MDB_val& val)> fn,
          MDB_cursor_op first = MDB_FIRST, MDB_cursor_op next = MDB_NEXT) {
  Cursor cursor(store, txn, dbi);
  MDB_val key = asVal(start), val;
  if (start.size() > 0) first = MDB_SET_RANGE;
  int rc = mdb_cursor_get(cursor.cursor, &key, &val, first);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.cursor, &key, &val, next)) {
    if (!fn(key, val)) return;
  }
  if (rc != MDB_NOTFOUND) check(store, rc, "walk");
}

// Opening writes (new tables, a new store's meta, a format upgrade), and a
// map that an earlier run filled may have no room for that. Thrown only while
// opening, caught by the constructor, which grows the map and opens again.
struct MapFull {};

void checkOpen(Store& store, int rc, kj::StringPtr what) {
  if (rc == MDB_MAP_FULL) throw MapFull();
  check(store, rc, what);
}

void putOpen(Store& store, MDB_txn* txn, MDB_dbi dbi, kj::ArrayPtr<const kj::byte> keyBytes,
             kj::ArrayPtr<const kj::byte> valBytes, kj::StringPtr what) {
  MDB_val key = asVal(keyBytes), val = asVal(valBytes);
  checkOpen(store, mdb_put(txn, dbi, &key, &val, 0), what);
}

// LMDB frees a transaction whether or not its commit succeeds: forget it first.
void commitOpen(Store& store, MDB_txn*& txn, kj::StringPtr what) {
  int rc = mdb_txn_commit(txn);
  txn = nullptr;
  checkOpen(store, rc, what);
}

// Decodes a whole record with the daemon's limits: totalSize() follows every
// pointer, so a record that passes holds nothing a later read could trip on.
template <typename T>
kj::Maybe<kj::String> decodeProblem(kj::ArrayPtr<const capnp::word> words,
                                    kj::FunctionParam<kj::Maybe<kj::String>(typename T::Reader)>
                                        consistent) {
  kj::Maybe<kj::String> problem;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
                auto root = reader.getRoot<T>();
                root.totalSize();
                problem = consistent(root);
              })) {
    return kj::str("does not decode (", e->getDescription(), ")");
  }
  return problem;
}

constexpr uint16_t LAST_TASK_STATE = static_cast<uint16_t>(records::TaskState::RETRYING);

// The tables whose values are Cap'n Proto records, and those whose values are
// empty (format 2) or a checksum (format 3): index entries.
struct TableNames {
  static constexpr const char* RECORDS[] = {"tasks", "attempts", "tombstones",
                                            "requests", "queues", "events"};
  static constexpr const char* INDEXES[] = {"active", "ready", "finished", "requests-by-age"};
};

}  // namespace

Store::Store(kj::StringPtr dirArg, StoreOptions options)
    : dir(kj::str(dirArg)),
      dataFile(kj::str(dirArg, "/data.mdb")),
      options(options),
      mapSize(options.initialMapBytes) {
  if (mkdir(dir.cStr(), 0700) < 0 && errno != EEXIST) {
    KJ_FAIL_REQUIRE("cannot create store directory", dir, strerror(errno));
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
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("cannot open the store at ", dir, ": ", mdb_strerror(rc),
                        " (refusing to start; the store is left as it is)")));
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
  KJ_IF_MAYBE(c, corrupted) return kj::StringPtr(*c);
  return nullptr;
}

void Store::requireWritable() const {
  KJ_IF_MAYBE(c, corrupted) {
    kj::throwFatalException(
        kj::Exception(kj::Exception::Type::OVERLOADED, __FILE__, __LINE__, kj::str(*c)));
  }
}

void Store::failCorrupt(kj::StringPtr detail) {
  if (opening) {
    kj::throwFatalException(kj::Exception(
        kj::Exception::Type::FAILED, __FILE__, __LINE__,
        kj::str("the store ", dataFile, " is corrupt (", detail,
                "); refusing to start, and the file is left untouched. Back it up first (mdb_copy ",
                dir, " BACKUP-DIR, or copy the directory), then copy every readable record into "
                "a new store with `taskctld --salvage-store NEW-DIR` and put NEW-DIR in place of ",
                dir, "; `taskctld --check-store` lists the damage")));
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

void Store::raiseNextId(uint64_t next) {
  if (next > nextId) nextId = next;
}

void Store::checkFileSize() {
  KJ_IF_MAYBE(problem, storeFileProblem(dataFile)) failCorrupt(*problem);
}

kj::Maybe<kj::String> storeFileProblem(kj::StringPtr dataFile) {
  int fd = open(dataFile.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return nullptr;  // a new store
    KJ_FAIL_REQUIRE("cannot open the store's data file", dataFile, strerror(errno));
  }
  KJ_DEFER(close(fd));
  struct stat st;
  KJ_SYSCALL(fstat(fd, &st), dataFile);
  uint64_t size = st.st_size;
  // LMDB's two meta pages: an MDB_page header (16 bytes), then MDB_meta:
  // magic, version, address, mapsize, two MDB_db (the first one's md_pad is
  // the page size), last page, txnid. Layout of LMDB 0.9 on a 64-bit host.
  constexpr uint32_t MAGIC = 0xBEEFC0DE;
  constexpr size_t HEADER = 152, MAGIC_AT = 16, VERSION_AT = 20, PSIZE_AT = 40,
                   LAST_PAGE_AT = 136, TXNID_AT = 144;
  auto readMeta = [&](uint64_t offset, kj::byte (&buf)[HEADER]) {
    if (size < offset + HEADER || pread(fd, buf, HEADER, offset) != ssize_t(HEADER)) {
      return false;
    }
    return true;
  };
  auto tooShort = [&]() { return kj::str("it is ", size, " bytes long, too short for LMDB's meta pages"); };
  auto u32 = [](const kj::byte* p) { uint32_t v; memcpy(&v, p, 4); return v; };
  auto u64 = [](const kj::byte* p) { uint64_t v; memcpy(&v, p, 8); return v; };
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
    return kj::str("it is ", size, " bytes long but its meta counts ", lastPage + 1,
                   " pages of ", psize, " bytes: the file was truncated");
  }
  return nullptr;
}

void Store::growMap() {
  auto grown = grownMapSize(mapSize, options.maxMapBytes, dir);
  // LMDB unmaps before it maps again: a map it cannot get leaves it with
  // none, so try for the address space first and keep the old map on failure.
  void* probe = mmap(nullptr, grown, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) {
    int error = errno;
    kj::throwFatalException(kj::Exception(
        kj::Exception::Type::OVERLOADED, __FILE__, __LINE__,
        kj::str("store full (", dir, "): cannot grow the map from ", mapSize, " to ", grown,
                " bytes: ", strerror(error))));
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
  openDb("ready", readyDb);
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
      kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("store at ", dir, " holds tasks but no meta record; refusing to start")));
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
    KJ_IF_MAYBE(payload, unsealValue(META_KEY.asBytes(), bytes)) {
      bytes = *payload;
    } else {
      failCorrupt("checksum mismatch in the meta record");
    }
  }
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.begin(), words.size() * sizeof(capnp::word));
  uint64_t storedNext;
  uint32_t version;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
                auto meta = reader.getRoot<records::Meta>();
                version = meta.getFormatVersion();
                storedNext = meta.getNextId();
              })) {
    failCorrupt(kj::str("its meta record is unreadable: ", e->getDescription()));
  }
  if (version > records::FORMAT_VERSION) {
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("store at ", dir, " has format version ", version,
                        ", newer than this taskctld knows (", records::FORMAT_VERSION,
                        "); refusing to start: upgrade taskctl")));
  }
  if (version == 0) {
    kj::throwFatalException(kj::Exception(
        kj::Exception::Type::FAILED, __FILE__, __LINE__,
        kj::str("store at ", dir, " has no format version in its meta record; refusing to start")));
  }
  if (sealed != (version >= 3)) {
    failCorrupt(kj::str("its meta record says format ", version, " but is ",
                        sealed ? "" : "not ", "checksummed"));
  }
  if (storedNext <= maxId) {
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("store at ", dir, " is inconsistent: next id ", storedNext,
                        " is not above the highest stored id ", maxId, "; refusing to start")));
  }
  // The daemon's recovery reads every active task right after this, before
  // anything is written: it verifies them there (forEachActiveTask while
  // opening), so a million of them are read once, not twice. An upgrade
  // writes, so an older store is verified here whatever the caller.
  if (!options.refuseUntilServing || version < records::FORMAT_VERSION) {
    verifyActive(txn, version);
  }
  if (version < records::FORMAT_VERSION) upgradeFormat(txn, version, storedNext);
  nextId = committedNextId = storedNext;
  // Commit, not abort: table handles opened in an aborted transaction are void.
  // A current store with every table present leaves the transaction clean,
  // and LMDB then writes nothing.
  commitOpen(*this, txn, "commit open");
}

// Recovery reads every active task anyway; reading them here, whole and with
// the daemon's limits, refuses a damaged one before anything is written.
// Finished tasks are left to the reads that need them (and --check-store):
// opening stays O(active), as DESIGN 11 wants.
void Store::verifyActive(MDB_txn* txn, uint32_t version) {
  auto bounds = mapBounds(*this, env);
  walk(*this, txn, activeDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    if (key.mv_size != 8) failCorrupt("an active index key is not 8 bytes");
    if (version >= 3) {
      checkIndexEntry(*this, bounds, "active", key, val);
    } else if (val.mv_size != 0) {
      failCorrupt(kj::str(keyText("active", key), " has a value"));
    }
    uint64_t id = readId(static_cast<const kj::byte*>(key.mv_data));
    MDB_val taskKey = key, taskVal;
    int rc = mdb_get(txn, tasksDb, &taskKey, &taskVal);
    if (rc == MDB_NOTFOUND) failCorrupt(kj::str("active task ", id, " has no record"));
    check(*this, rc, kj::str("read active task ", id));
    kj::Array<capnp::word> words;
    if (version >= 3) {
      words = recordWords(*this, bounds, "tasks", taskKey, taskVal);
    } else {
      checkBounds(*this, bounds, "tasks", taskKey, taskVal);
      if (taskVal.mv_size % sizeof(capnp::word) != 0) {
        failCorrupt(kj::str("task ", id, " has a record of ", taskVal.mv_size, " bytes"));
      }
      words = kj::heapArray<capnp::word>(taskVal.mv_size / sizeof(capnp::word));
      memcpy(words.begin(), taskVal.mv_data, taskVal.mv_size);
    }
    verifyActiveRecord(id, words);
    return true;
  });
}

namespace {

// What makes a decoded record unfit to be active task `id`.
kj::Maybe<kj::String> activeProblem(uint64_t id, records::Task::Reader task) {
  if (task.getId() != id) return kj::str("holds task ", task.getId());
  auto state = static_cast<uint16_t>(task.getState());
  if (state > LAST_TASK_STATE) return kj::str("has state ", state);
  if (isTerminal(task.getState())) return kj::str("is terminal but listed as active");
  return nullptr;
}

}  // namespace

void Store::verifyActiveRecord(uint64_t id, kj::ArrayPtr<const capnp::word> words) {
  KJ_IF_MAYBE(problem, decodeProblem<records::Task>(
                           words, [&](records::Task::Reader task) -> kj::Maybe<kj::String> {
                             return activeProblem(id, task);
                           })) {
    failCorrupt(kj::str("active task ", id, " ", *problem));
  }
}

// Format 1 had no `finished` index; formats 1 and 2 no checksums. The
// upgrade runs once, in the transaction that rewrites the meta, so a crash
// leaves either format whole. It first reads every record whole (sealing a
// damaged one would bless it), then seals every value in place.
void Store::upgradeFormat(MDB_txn* txn, uint32_t version, uint64_t storedNext) {
  KJ_CONTEXT("upgrading the store to the current format", dir, version);
  auto bounds = mapBounds(*this, env);
  auto dbiOf = [&](kj::StringPtr name) -> unsigned {
    if (name == "tasks") return tasksDb;
    if (name == "attempts") return attemptsDb;
    if (name == "tombstones") return tombstonesDb;
    if (name == "requests") return requestsDb;
    if (name == "queues") return queuesDb;
    if (name == "events") return eventsDb;
    if (name == "active") return activeDb;
    if (name == "ready") return readyDb;
    if (name == "finished") return finishedDb;
    return requestsByAgeDb;
  };
  auto legacyWords = [&](kj::StringPtr table, const MDB_val& key, const MDB_val& val) {
    checkBounds(*this, bounds, table, key, val);
    if (val.mv_size % sizeof(capnp::word) != 0) {
      failCorrupt(kj::str(keyText(table, key), " has a record of ", val.mv_size, " bytes"));
    }
    auto words = kj::heapArray<capnp::word>(val.mv_size / sizeof(capnp::word));
    memcpy(words.begin(), val.mv_data, val.mv_size);
    return words;
  };
  auto whole = [](auto reader) -> kj::Maybe<kj::String> { return nullptr; };
  for (kj::StringPtr table : TableNames::RECORDS) {
    walk(*this, txn, dbiOf(table), nullptr, [&](const MDB_val& key, const MDB_val& val) {
      auto words = legacyWords(table, key, val);
      kj::Maybe<kj::String> problem;
      if (table == "tasks") problem = decodeProblem<records::Task>(words, whole);
      else if (table == "attempts") problem = decodeProblem<records::Attempt>(words, whole);
      else if (table == "tombstones") problem = decodeProblem<records::Tombstone>(words, whole);
      else if (table == "requests") problem = decodeProblem<records::RequestMapping>(words, whole);
      else if (table == "queues") problem = decodeProblem<records::QueueSettings>(words, whole);
      else problem = decodeProblem<records::Event>(words, whole);
      KJ_IF_MAYBE(p, problem) failCorrupt(kj::str(keyText(table, key), " ", *p));
      return true;
    });
  }
  for (kj::StringPtr table : TableNames::INDEXES) {
    walk(*this, txn, dbiOf(table), nullptr, [&](const MDB_val& key, const MDB_val& val) {
      checkBounds(*this, bounds, table, key, val);
      if (val.mv_size != 0) failCorrupt(kj::str(keyText(table, key), " has a value"));
      return true;
    });
  }

  // Seal every value where it is (MDB_CURRENT keeps the cursor in place).
  auto reseal = [&](kj::StringPtr table) {
    Cursor cursor(*this, txn, dbiOf(table));
    MDB_val key, val;
    int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
      auto keyCopy = kj::heapArray(bytesOf(key));
      auto sealed = sealValue(keyCopy, bytesOf(val));
      MDB_val k = asVal(keyCopy), v = asVal(sealed);
      checkOpen(*this, mdb_cursor_put(cursor.cursor, &k, &v, MDB_CURRENT), "seal a record");
    }
    if (rc != MDB_NOTFOUND) check(*this, rc, "walk");
  };
  for (kj::StringPtr table : TableNames::RECORDS) reseal(table);
  for (kj::StringPtr table : TableNames::INDEXES) reseal(table);

  if (version < 2) {
    // List the terminal tasks format 1 holds, or retention would never see them.
    walk(*this, txn, tasksDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
      Record<records::Task> record(recordWords(*this, Bounds{}, "tasks", key, val));
      auto task = record.get();
      if (isTerminal(task.getState())) {
        auto entry = finishedKey(task.getFinishedAt(), task.getId());
        putOpen(*this, txn, finishedDb, entry, sealValue(entry, nullptr), "index a finished task");
      }
      return true;
    });
  }
  putOpen(*this, txn, metaDb, META_KEY.asBytes(), metaRecord(storedNext), "upgrade meta");
}

uint64_t Store::allocateId() { return nextId++; }

void Store::stage(unsigned dbi, kj::Array<kj::byte> key, kj::Maybe<kj::Array<capnp::word>> value,
                  bool droppable) {
  // Read-only after corruption: the daemon's own bookkeeping goes on in
  // memory, but nothing more reaches the file (requests that change state are
  // refused before they get here, see requireWritable()).
  if (corrupted != nullptr) return;
  kj::Maybe<kj::Array<kj::byte>> sealed;
  KJ_IF_MAYBE(words, value) sealed = sealValue(key, words->asBytes());
  ops.add(Op{dbi, kj::mv(key), kj::mv(sealed), droppable});
}

void Store::putTask(records::Task::Reader task, bool droppable) {
  auto id = task.getId();
  KJ_ASSERT(id != 0 && id < nextId, "task id was not allocated by this store", id);
  stage(tasksDb, idKey(id), encode(task), droppable);
  // The indexes follow the state, so they can never disagree with the record.
  auto state = task.getState();
  if (isTerminal(state)) {
    stage(activeDb, idKey(id), nullptr, droppable);
    // A terminal task stays terminal with the same finishedAt, so a second put
    // rewrites the same key; no delete is ever needed for a non-terminal one.
    stage(finishedDb, finishedKey(task.getFinishedAt(), id), kj::heapArray<capnp::word>(0),
          droppable);
  } else {
    stage(activeDb, idKey(id), kj::heapArray<capnp::word>(0), droppable);
  }
  auto ready = readyKey(task.getQueue(), task.getPriority(), id);
  if (state == records::TaskState::QUEUED) {
    stage(readyDb, kj::mv(ready), kj::heapArray<capnp::word>(0), droppable);
  } else {
    stage(readyDb, kj::mv(ready), nullptr, droppable);
  }
}

void Store::putAttempt(records::Attempt::Reader attempt, bool droppable) {
  stage(attemptsDb, attemptKey(attempt.getTaskId(), attempt.getNumber()), encode(attempt),
        droppable);
}

void Store::pruneTask(uint64_t id, records::Tombstone::Reader tombstone) {
  KJ_ASSERT(tombstone.getId() == id, "tombstone is for another task", id, tombstone.getId());
  stage(tasksDb, idKey(id), nullptr, false);
  // Delete the attempt keys the store holds rather than 1..task.attempts: a
  // counter that ran ahead of or behind its records then leaves nothing behind.
  {
    ReadTxn txn(*this, env);
    walk(*this, txn.txn, attemptsDb, attemptKey(id, 0), [&](const MDB_val& key, const MDB_val&) {
      auto bytes = static_cast<const kj::byte*>(key.mv_data);
      if (key.mv_size != 12 || readId(bytes) != id) return false;
      stage(attemptsDb, kj::heapArray<kj::byte>(bytes, key.mv_size), nullptr, false);
      return true;
    });
  }
  // The tombstone copies the task's finishedAt, which is what keyed its entry.
  stage(finishedDb, finishedKey(tombstone.getFinishedAt(), id), nullptr, false);
  // A terminal task has no active entry; deleting one anyway costs nothing and
  // keeps a record that disagreed with its index from leaving a dangling key.
  stage(activeDb, idKey(id), nullptr, false);
  stage(tombstonesDb, idKey(id), encode(tombstone), false);
}


void Store::deleteTombstone(uint64_t id) { stage(tombstonesDb, idKey(id), nullptr, false); }

void Store::putRequest(uint32_t uid, kj::StringPtr requestId,
                       records::RequestMapping::Reader mapping, bool droppable) {
  // An oversized key would fail the whole commit, and with it every batch after.
  size_t maxKey = mdb_env_get_maxkeysize(env);
  KJ_REQUIRE(12 + requestId.size() <= maxKey,
             kj::str("a request id may be at most ", maxKey - 12, " bytes long"));
  auto createdAt = mapping.getCreatedAt();
  stage(requestsDb, requestKey(uid, requestId), encode(mapping), droppable);
  stage(requestsByAgeDb, requestAgeKey(createdAt, uid, requestId), kj::heapArray<capnp::word>(0),
        droppable);
}

void Store::deleteRequest(uint32_t uid, kj::StringPtr requestId, int64_t createdAt) {
  stage(requestsDb, requestKey(uid, requestId), nullptr, false);
  stage(requestsByAgeDb, requestAgeKey(createdAt, uid, requestId), nullptr, false);
}

void Store::putQueueSettings(records::QueueSettings::Reader settings) {
  auto name = settings.getName();
  // LMDB keys hold 1 to maxkeysize bytes; anything else would fail the commit.
  size_t maxKey = mdb_env_get_maxkeysize(env);
  KJ_REQUIRE(name.size() > 0 && name.size() <= maxKey,
             kj::str("a queue name must be 1 to ", maxKey, " bytes long"));
  stage(queuesDb, kj::heapArray(name.asBytes()), encode(settings), false);
}

void Store::deleteQueueSettings(kj::StringPtr name) {
  if (name.size() == 0) return;  // never stored, and LMDB refuses an empty key
  stage(queuesDb, kj::heapArray(name.asBytes()), nullptr, false);
}

void Store::dropDroppable() {
  kj::Vector<Op> kept;
  for (auto& op : ops) {
    if (!op.droppable) kept.add(kj::mv(op));
  }
  ops = kj::mv(kept);
}

bool Store::tryCommit() {
  MDB_txn* txn;
  check(*this, mdb_txn_begin(env, nullptr, 0, &txn), "begin write");
  bool done = false;
  KJ_DEFER(if (!done) mdb_txn_abort(txn));
  auto put = [&](unsigned dbi, MDB_val& key, MDB_val& val) {
    int rc = mdb_put(txn, dbi, &key, &val, 0);
    if (rc == MDB_MAP_FULL) return false;
    check(*this, rc, "write");
    return true;
  };
  for (auto& op : ops) {
    MDB_val key = asVal(op.key);
    KJ_IF_MAYBE(value, op.value) {
      MDB_val val = asVal(*value);
      if (!put(op.dbi, key, val)) return false;
    } else {
      int rc = mdb_del(txn, op.dbi, &key, nullptr);
      if (rc != MDB_NOTFOUND) check(*this, rc, "delete");
    }
  }
  if (nextId != committedNextId) {
    auto words = metaRecord(nextId);
    MDB_val key = asVal(META_KEY.asBytes());
    MDB_val val = asVal(words);
    if (!put(metaDb, key, val)) return false;
  }
  done = true;
  int rc = mdb_txn_commit(txn);
  if (rc == MDB_MAP_FULL) return false;
  check(*this, rc, "commit");
  return true;
}

void Store::commit() {
  if (corrupted != nullptr) {
    // Whatever was staged before the corruption was found stays off the file;
    // a submit among it is refused (GroupCommit), never acked.
    ops.clear();
    committedNextId = nextId;
    requireWritable();
  }
  if (ops.empty() && nextId == committedNextId) return;
  while (!tryCommit()) {
    // MDB_MAP_FULL poisoned the transaction: it was aborted; grow and redo it all.
    growMap();
  }
  ops.clear();
  committedNextId = nextId;
  commits++;
}

kj::Maybe<kj::Array<capnp::word>> Store::get(unsigned dbi, kj::StringPtr table,
                                             kj::ArrayPtr<const kj::byte> keyBytes) {
  ReadTxn txn(*this, env);
  MDB_val key = asVal(keyBytes), val;
  int rc = mdb_get(txn.txn, dbi, &key, &val);
  if (rc == MDB_NOTFOUND) return nullptr;
  check(*this, rc, kj::str("read ", keyText(table, key)));
  return recordWords(*this, txn.bounds, table, key, val, true);
}

kj::Maybe<kj::Own<Record<records::Task>>> Store::getTask(uint64_t id) {
  auto found = get(tasksDb, "tasks", idKey(id));
  KJ_IF_MAYBE(words, found) {
    return kj::heap<Record<records::Task>>(kj::mv(*words));
  }
  return nullptr;
}

kj::Maybe<kj::Own<Record<records::Attempt>>> Store::getAttempt(uint64_t id, uint32_t number) {
  auto found = get(attemptsDb, "attempts", attemptKey(id, number));
  KJ_IF_MAYBE(words, found) {
    return kj::heap<Record<records::Attempt>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachTask(kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, tasksDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Task> record(recordWords(*this, txn.bounds, "tasks", key, val));
    return fn(record.get());
  });
}

void Store::forEachTaskNewestFirst(kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(
      *this, txn.txn, tasksDb, nullptr,
      [&](const MDB_val& key, const MDB_val& val) {
        Record<records::Task> record(recordWords(*this, txn.bounds, "tasks", key, val));
        return fn(record.get());
      },
      MDB_LAST, MDB_PREV);
}

void Store::forEachTaskFrom(uint64_t first,
                            kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(*this, env);
  auto start = idKey(first);
  walk(*this, txn.txn, tasksDb, start, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Task> record(recordWords(*this, txn.bounds, "tasks", key, val));
    return fn(record.get());
  });
}

void Store::forEachActiveTask(kj::FunctionParam<void(records::Task::Reader)> fn) {
  // A million queued tasks open in a second (DESIGN 11): per record, no
  // tree search, no allocation, one decode. The tasks table is walked in
  // step with the active index (both by id): the next active task's record
  // is usually the tasks cursor's next key, else the cursor seeks it.
  ReadTxn txn(*this, env);
  Cursor tasks(*this, txn.txn, tasksDb);
  bool positioned = false;
  kj::Vector<capnp::word> scratch;
  walk(*this, txn.txn, activeDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkIndexEntry(*this, txn.bounds, "active", key, val);
    MDB_val taskKey, task;
    int rc = MDB_NOTFOUND;
    if (positioned) {
      rc = mdb_cursor_get(tasks.cursor, &taskKey, &task, MDB_NEXT);
      if (rc == MDB_SUCCESS && (taskKey.mv_size != key.mv_size ||
                                memcmp(taskKey.mv_data, key.mv_data, key.mv_size) != 0)) {
        rc = MDB_NOTFOUND;  // not the next one: seek it
      }
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(*this, rc, "read active task");
    }
    if (rc == MDB_NOTFOUND) {
      taskKey = key;
      rc = mdb_cursor_get(tasks.cursor, &taskKey, &task, MDB_SET_KEY);
      if (rc == MDB_NOTFOUND) {
        failCorrupt(kj::str("the active index lists a missing ", keyText("tasks", key)));
      }
      check(*this, rc, "read active task");
    }
    positioned = true;
    auto words = recordView(*this, txn.bounds, "tasks", taskKey, task, scratch);
    if (!opening) {
      capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
      fn(reader.getRoot<records::Task>());
      return true;
    }
    // Recovery at start: read whole with the daemon's limits (see
    // openAndCheck), on the reader that fn then reads.
    uint64_t id = readId(static_cast<const kj::byte*>(key.mv_data));
    bool checked = false;
    kj::Maybe<kj::String> problem;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                  capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
                  auto root = reader.getRoot<records::Task>();
                  root.totalSize();  // follows every pointer
                  problem = activeProblem(id, root);
                  if (problem != nullptr) return;
                  checked = true;
                  fn(root);
                })) {
      if (checked) kj::throwFatalException(kj::mv(*e));  // fn's, not the record's
      problem = kj::str("does not decode (", e->getDescription(), ")");
    }
    KJ_IF_MAYBE(p, problem) failCorrupt(kj::str("active task ", id, " ", *p));
    return true;
  });
}

void Store::forEachReady(kj::StringPtr queue, kj::FunctionParam<void(uint64_t id)> fn) {
  ReadTxn txn(*this, env);
  Cursor cursor(*this, txn.txn, readyDb);
  auto prefix = kj::heapArray<kj::byte>(queue.size() + 1);
  memcpy(prefix.begin(), queue.begin(), queue.size());
  prefix[queue.size()] = 0;
  MDB_val key = asVal(prefix), val;
  int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
    checkIndexEntry(*this, txn.bounds, "ready", key, val);
    if (key.mv_size != prefix.size() + 9 ||
        memcmp(key.mv_data, prefix.begin(), prefix.size()) != 0) {
      return;
    }
    fn(readId(static_cast<const kj::byte*>(key.mv_data) + prefix.size() + 1));
  }
  if (rc != MDB_NOTFOUND) check(*this, rc, "walk ready");
}

void Store::forEachAttempt(uint64_t id, kj::FunctionParam<void(records::Attempt::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, attemptsDb, attemptKey(id, 0), [&](const MDB_val& key, const MDB_val& val) {
    if (key.mv_size != 12 || readId(static_cast<const kj::byte*>(key.mv_data)) != id) return false;
    Record<records::Attempt> record(recordWords(*this, txn.bounds, "attempts", key, val));
    fn(record.get());
    return true;
  });
}

void Store::forEachFinished(kj::FunctionParam<bool(int64_t finishedAt, uint64_t id)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, finishedDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkIndexEntry(*this, txn.bounds, "finished", key, val);
    if (key.mv_size != 16) failCorrupt("a finished index key is not 16 bytes");
    auto bytes = static_cast<const kj::byte*>(key.mv_data);
    return fn(readTime(bytes), readId(bytes + 8));
  });
}

void Store::releaseMappedPages() {
  // The map is read-only here (no MDB_WRITEMAP: LMDB writes with pwrite), so
  // dropping its pages from this process loses nothing: they stay in the page
  // cache. mmap placed it page-aligned, mapSize long.
  auto base = mapAddress();
  if (base == nullptr) return;  // an empty store: nothing mapped worth dropping
  if (madvise(const_cast<void*>(base), mapSize, MADV_DONTNEED) != 0) {
    KJ_LOG(WARNING, "madvise(MADV_DONTNEED) on the store's map failed", dir, strerror(errno));
  }
}

size_t Store::finishedCount() {
  ReadTxn txn(*this, env);
  MDB_stat stat;
  check(*this, mdb_stat(txn.txn, finishedDb, &stat), "stat finished");
  return stat.ms_entries;
}

kj::Maybe<kj::Own<Record<records::Tombstone>>> Store::getTombstone(uint64_t id) {
  KJ_IF_MAYBE(words, get(tombstonesDb, "tombstones", idKey(id))) {
    return kj::heap<Record<records::Tombstone>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachTombstone(kj::FunctionParam<bool(records::Tombstone::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, tombstonesDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Tombstone> record(recordWords(*this, txn.bounds, "tombstones", key, val));
    return fn(record.get());
  });
}

kj::Maybe<kj::Own<Record<records::RequestMapping>>> Store::getRequest(uint32_t uid,
                                                                      kj::StringPtr requestId) {
  KJ_IF_MAYBE(words, get(requestsDb, "requests", requestKey(uid, requestId))) {
    return kj::heap<Record<records::RequestMapping>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachRequestByAge(
    kj::FunctionParam<bool(int64_t createdAt, uint32_t uid, kj::StringPtr requestId)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, requestsByAgeDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkIndexEntry(*this, txn.bounds, "requests-by-age", key, val);
    if (key.mv_size < 12) failCorrupt("a requests-by-age key is shorter than 12 bytes");
    auto bytes = static_cast<const kj::byte*>(key.mv_data);
    // LMDB's bytes carry no NUL; the copy gives fn a proper StringPtr.
    auto requestId = kj::heapString(reinterpret_cast<const char*>(bytes) + 12, key.mv_size - 12);
    return fn(readTime(bytes), readUid(bytes + 8), requestId);
  });
}

void Store::forEachQueueSettings(kj::FunctionParam<void(records::QueueSettings::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, queuesDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::QueueSettings> record(recordWords(*this, txn.bounds, "queues", key, val));
    fn(record.get());
    return true;
  });
}

// ---- The event log: seq (8 bytes, big-endian) -> records::Event ----

void Store::appendEvent(records::Event::Reader event, bool droppable) {
  stage(eventsDb, idKey(event.getSeq()), encode(event), droppable);
}

uint64_t Store::firstEventSeq() {
  ReadTxn txn(*this, env);
  uint64_t seq = 0;
  walk(*this, txn.txn, eventsDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkBounds(*this, txn.bounds, "events", key, val);
    if (key.mv_size != 8) failCorrupt("an event key is not 8 bytes");
    seq = readId(static_cast<const kj::byte*>(key.mv_data));
    return false;
  });
  return seq;
}

uint64_t Store::lastEventSeq() {
  ReadTxn txn(*this, env);
  Cursor cursor(*this, txn.txn, eventsDb);
  MDB_val key, val;
  int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_LAST);
  if (rc == MDB_NOTFOUND) return 0;
  check(*this, rc, "last event");
  checkBounds(*this, txn.bounds, "events", key, val);
  if (key.mv_size != 8) failCorrupt("an event key is not 8 bytes");
  return readId(static_cast<const kj::byte*>(key.mv_data));
}

void Store::forEachEventFrom(uint64_t seq, kj::FunctionParam<bool(records::Event::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, eventsDb, idKey(seq), [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Event> record(recordWords(*this, txn.bounds, "events", key, val));
    return fn(record.get());
  });
}

void Store::deleteEventsBefore(uint64_t seq, size_t limit) {
  kj::Vector<uint64_t> doomed;
  {
    ReadTxn txn(*this, env);
    walk(*this, txn.txn, eventsDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
      checkBounds(*this, txn.bounds, "events", key, val);
      if (key.mv_size != 8) failCorrupt("an event key is not 8 bytes");
      uint64_t s = readId(static_cast<const kj::byte*>(key.mv_data));
      if (s >= seq || doomed.size() >= limit) return false;
      doomed.add(s);
      return true;
    });
  }
  for (auto s : doomed) stage(eventsDb, idKey(s), nullptr, false);
}

}  // namespace taskctl
