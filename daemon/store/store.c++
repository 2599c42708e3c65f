#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

#include <kj/debug.h>

namespace taskctl {
namespace {

// The one checker for LMDB return codes (STYLE: foreign errors stop here).
void check(int rc, kj::StringPtr what, kj::StringPtr path) {
  if (rc == MDB_SUCCESS) return;
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

kj::Array<capnp::word> alignedCopy(const MDB_val& val) {
  auto words = kj::heapArray<capnp::word>((val.mv_size + 7) / 8);
  memset(words.begin(), 0, words.size() * sizeof(capnp::word));
  memcpy(words.begin(), val.mv_data, val.mv_size);
  return words;
}

MDB_val asVal(kj::ArrayPtr<const kj::byte> bytes) {
  return MDB_val{bytes.size(), const_cast<kj::byte*>(bytes.begin())};
}

// A read transaction that ends with its scope.
struct ReadTxn {
  MDB_txn* txn = nullptr;
  ReadTxn(MDB_env* env, kj::StringPtr path) {
    check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "begin read", path);
  }
  ~ReadTxn() { mdb_txn_abort(txn); }
  KJ_DISALLOW_COPY(ReadTxn);
};

struct Cursor {
  MDB_cursor* cursor = nullptr;
  Cursor(MDB_txn* txn, MDB_dbi dbi, kj::StringPtr path) {
    check(mdb_cursor_open(txn, dbi, &cursor), "open cursor", path);
  }
  ~Cursor() { mdb_cursor_close(cursor); }
  KJ_DISALLOW_COPY(Cursor);
};

constexpr kj::StringPtr META_KEY = "meta"_kj;

kj::Array<capnp::word> metaRecord(uint64_t nextId) {
  capnp::MallocMessageBuilder message;
  auto meta = message.initRoot<records::Meta>();
  meta.setFormatVersion(records::FORMAT_VERSION);
  meta.setNextId(nextId);
  return capnp::messageToFlatArray(message);
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
void walk(MDB_txn* txn, MDB_dbi dbi, kj::StringPtr path, kj::ArrayPtr<const kj::byte> start,
          kj::FunctionParam<bool(const MDB_val& key, const MDB_val& val)> fn) {
  Cursor cursor(txn, dbi, path);
  MDB_val key = asVal(start), val;
  auto first = start.size() == 0 ? MDB_FIRST : MDB_SET_RANGE;
  int rc = mdb_cursor_get(cursor.cursor, &key, &val, first);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
    if (!fn(key, val)) return;
  }
  if (rc != MDB_NOTFOUND) check(rc, "walk", path);
}

// Opening writes (new tables, a new store's meta, a format upgrade), and a
// map that an earlier run filled may have no room for that. Thrown only while
// opening, caught by the constructor, which grows the map and opens again.
struct MapFull {};

void checkOpen(int rc, kj::StringPtr what, kj::StringPtr path) {
  if (rc == MDB_MAP_FULL) throw MapFull();
  check(rc, what, path);
}

void putOpen(MDB_txn* txn, MDB_dbi dbi, kj::ArrayPtr<const kj::byte> keyBytes,
             kj::ArrayPtr<const kj::byte> valBytes, kj::StringPtr what, kj::StringPtr path) {
  MDB_val key = asVal(keyBytes), val = asVal(valBytes);
  checkOpen(mdb_put(txn, dbi, &key, &val, 0), what, path);
}

// LMDB frees a transaction whether or not its commit succeeds: forget it first.
void commitOpen(MDB_txn*& txn, kj::StringPtr what, kj::StringPtr path) {
  int rc = mdb_txn_commit(txn);
  txn = nullptr;
  checkOpen(rc, what, path);
}

// Format 1 had no `finished` index: list the terminal tasks it holds, or
// retention would never see them. Runs once, in the transaction that rewrites
// the meta, so a crash leaves either format whole.
void upgradeFormat(MDB_txn* txn, MDB_dbi metaDb, MDB_dbi tasksDb, MDB_dbi finishedDb,
                   uint64_t nextId, kj::StringPtr path) {
  KJ_CONTEXT("upgrading the store to the current format", path);
  walk(txn, tasksDb, path, nullptr, [&](const MDB_val&, const MDB_val& val) {
    Record<records::Task> record(alignedCopy(val));
    auto task = record.get();
    if (isTerminal(task.getState())) {
      putOpen(txn, finishedDb, finishedKey(task.getFinishedAt(), task.getId()), nullptr,
              "index a finished task", path);
    }
    return true;
  });
  putOpen(txn, metaDb, META_KEY.asBytes(), metaRecord(nextId).asBytes(), "upgrade meta", path);
}

}  // namespace

bool isTerminal(records::TaskState state) {
  return state == records::TaskState::SUCCEEDED || state == records::TaskState::FAILED ||
         state == records::TaskState::CANCELLED;
}

Store::Store(kj::StringPtr dirArg, StoreOptions options)
    : dir(kj::str(dirArg)), options(options), mapSize(options.initialMapBytes) {
  if (mkdir(dir.cStr(), 0700) < 0 && errno != EEXIST) {
    KJ_FAIL_REQUIRE("cannot create store directory", dir, strerror(errno));
  }
  check(mdb_env_create(&env), "create environment", dir);
  KJ_ON_SCOPE_FAILURE({
    mdb_env_close(env);
    env = nullptr;
  });
  // Ten tables today, and room to add a few without revisiting this.
  check(mdb_env_set_maxdbs(env, 16), "set maxdbs", dir);
  // A store written by an earlier run may be larger than our initial map.
  struct stat st;
  auto dataFile = kj::str(dir, "/data.mdb");
  if (stat(dataFile.cStr(), &st) == 0 && static_cast<size_t>(st.st_size) > mapSize) {
    while (mapSize < static_cast<size_t>(st.st_size)) mapSize *= 2;
  }
  check(mdb_env_set_mapsize(env, mapSize), "set map size", dir);
  // Default durability on purpose: never MDB_NOSYNC, MDB_MAPASYNC or
  // MDB_WRITEMAP (a full disk would kill us with SIGBUS under WRITEMAP).
  int rc = mdb_env_open(env, dir.cStr(), MDB_NOTLS, 0600);
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
      mapSize = grownMapSize(mapSize, options.maxMapBytes, dir);
      check(mdb_env_set_mapsize(env, mapSize), "grow map", dir);
    }
  }
}

Store::~Store() noexcept(false) {
  if (env != nullptr) mdb_env_close(env);
}

void Store::openAndCheck() {
  MDB_txn* txn;
  check(mdb_txn_begin(env, nullptr, 0, &txn), "begin", dir);
  KJ_DEFER(if (txn != nullptr) mdb_txn_abort(txn));
  auto openDb = [&](const char* name, unsigned& dbi) {
    checkOpen(mdb_dbi_open(txn, name, MDB_CREATE, &dbi), kj::str("open table ", name), dir);
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
    Cursor cursor(txn, tasksDb, dir);
    MDB_val key, val;
    if (mdb_cursor_get(cursor.cursor, &key, &val, MDB_LAST) == MDB_SUCCESS) {
      KJ_REQUIRE(key.mv_size == 8, "store has a malformed task key; refusing to start", dir);
      maxId = readId(static_cast<const kj::byte*>(key.mv_data));
    }
  }

  MDB_val key = asVal(META_KEY.asBytes()), val;
  int rc = mdb_get(txn, metaDb, &key, &val);
  if (rc == MDB_NOTFOUND) {
    if (maxId != 0) {
      kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("store at ", dir, " holds tasks but no meta record; refusing to start")));
    }
    putOpen(txn, metaDb, META_KEY.asBytes(), metaRecord(1).asBytes(), "write meta", dir);
    commitOpen(txn, "commit meta", dir);
    nextId = committedNextId = 1;
    return;
  }
  check(rc, "read meta", dir);
  auto words = alignedCopy(val);
  uint64_t storedNext;
  uint32_t version;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                capnp::FlatArrayMessageReader reader(words);
                auto meta = reader.getRoot<records::Meta>();
                version = meta.getFormatVersion();
                storedNext = meta.getNextId();
              })) {
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("store at ", dir, " has an unreadable meta record (", e->getDescription(),
                        "); refusing to start")));
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
  if (storedNext <= maxId) {
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("store at ", dir, " is inconsistent: next id ", storedNext,
                        " is not above the highest stored id ", maxId, "; refusing to start")));
  }
  if (version < records::FORMAT_VERSION) {
    upgradeFormat(txn, metaDb, tasksDb, finishedDb, storedNext, dir);
  }
  nextId = committedNextId = storedNext;
  // Commit, not abort: table handles opened in an aborted transaction are void.
  commitOpen(txn, "commit open", dir);
}

uint64_t Store::allocateId() { return nextId++; }

void Store::stage(unsigned dbi, kj::Array<kj::byte> key, kj::Maybe<kj::Array<capnp::word>> value,
                  bool droppable) {
  ops.add(Op{dbi, kj::mv(key), kj::mv(value), droppable});
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
    ReadTxn txn(env, dir);
    walk(txn.txn, attemptsDb, dir, attemptKey(id, 0), [&](const MDB_val& key, const MDB_val&) {
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
  check(mdb_txn_begin(env, nullptr, 0, &txn), "begin write", dir);
  bool done = false;
  KJ_DEFER(if (!done) mdb_txn_abort(txn));
  auto put = [&](unsigned dbi, MDB_val& key, MDB_val& val) {
    int rc = mdb_put(txn, dbi, &key, &val, 0);
    if (rc == MDB_MAP_FULL) return false;
    check(rc, "write", dir);
    return true;
  };
  for (auto& op : ops) {
    MDB_val key = asVal(op.key);
    KJ_IF_MAYBE(value, op.value) {
      MDB_val val = asVal(value->asBytes());
      if (!put(op.dbi, key, val)) return false;
    } else {
      int rc = mdb_del(txn, op.dbi, &key, nullptr);
      if (rc != MDB_NOTFOUND) check(rc, "delete", dir);
    }
  }
  if (nextId != committedNextId) {
    auto words = metaRecord(nextId);
    MDB_val key = asVal(META_KEY.asBytes());
    MDB_val val = asVal(words.asBytes());
    if (!put(metaDb, key, val)) return false;
  }
  done = true;
  int rc = mdb_txn_commit(txn);
  if (rc == MDB_MAP_FULL) return false;
  check(rc, "commit", dir);
  return true;
}

void Store::commit() {
  if (ops.empty() && nextId == committedNextId) return;
  while (!tryCommit()) {
    // MDB_MAP_FULL poisoned the transaction: it was aborted; grow and redo it all.
    mapSize = grownMapSize(mapSize, options.maxMapBytes, dir);
    check(mdb_env_set_mapsize(env, mapSize), "grow map", dir);
  }
  ops.clear();
  committedNextId = nextId;
  commits++;
}

kj::Maybe<kj::Array<capnp::word>> Store::get(unsigned dbi, kj::ArrayPtr<const kj::byte> keyBytes) {
  ReadTxn txn(env, dir);
  MDB_val key = asVal(keyBytes), val;
  int rc = mdb_get(txn.txn, dbi, &key, &val);
  if (rc == MDB_NOTFOUND) return nullptr;
  check(rc, "read", dir);
  return alignedCopy(val);
}

kj::Maybe<kj::Own<Record<records::Task>>> Store::getTask(uint64_t id) {
  auto found = get(tasksDb, idKey(id));
  KJ_IF_MAYBE(words, found) {
    return kj::heap<Record<records::Task>>(kj::mv(*words));
  }
  return nullptr;
}

kj::Maybe<kj::Own<Record<records::Attempt>>> Store::getAttempt(uint64_t id, uint32_t number) {
  auto found = get(attemptsDb, attemptKey(id, number));
  KJ_IF_MAYBE(words, found) {
    return kj::heap<Record<records::Attempt>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachTask(kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(env, dir);
  Cursor cursor(txn.txn, tasksDb, dir);
  MDB_val key, val;
  for (int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
    Record<records::Task> record(alignedCopy(val));
    if (!fn(record.get())) break;
  }
}

void Store::forEachTaskNewestFirst(kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(env, dir);
  Cursor cursor(txn.txn, tasksDb, dir);
  MDB_val key, val;
  for (int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_LAST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_PREV)) {
    Record<records::Task> record(alignedCopy(val));
    if (!fn(record.get())) break;
  }
}

void Store::forEachTaskFrom(uint64_t first,
                            kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(env, dir);
  Cursor cursor(txn.txn, tasksDb, dir);
  auto start = idKey(first);
  MDB_val key = asVal(start), val;
  for (int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_SET_RANGE); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
    Record<records::Task> record(alignedCopy(val));
    if (!fn(record.get())) break;
  }
}

void Store::forEachActiveTask(kj::FunctionParam<void(records::Task::Reader)> fn) {
  ReadTxn txn(env, dir);
  Cursor cursor(txn.txn, activeDb, dir);
  MDB_val key, val;
  for (int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
    MDB_val task;
    check(mdb_get(txn.txn, tasksDb, &key, &task), "read active task", dir);
    Record<records::Task> record(alignedCopy(task));
    fn(record.get());
  }
}

void Store::forEachReady(kj::StringPtr queue, kj::FunctionParam<void(uint64_t id)> fn) {
  ReadTxn txn(env, dir);
  Cursor cursor(txn.txn, readyDb, dir);
  auto prefix = kj::heapArray<kj::byte>(queue.size() + 1);
  memcpy(prefix.begin(), queue.begin(), queue.size());
  prefix[queue.size()] = 0;
  MDB_val key = asVal(prefix), val;
  for (int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_SET_RANGE); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
    if (key.mv_size != prefix.size() + 9 ||
        memcmp(key.mv_data, prefix.begin(), prefix.size()) != 0) {
      break;
    }
    fn(readId(static_cast<const kj::byte*>(key.mv_data) + prefix.size() + 1));
  }
}

void Store::forEachAttempt(uint64_t id, kj::FunctionParam<void(records::Attempt::Reader)> fn) {
  ReadTxn txn(env, dir);
  Cursor cursor(txn.txn, attemptsDb, dir);
  auto start = attemptKey(id, 0);
  MDB_val key = asVal(start), val;
  for (int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_SET_RANGE); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
    if (key.mv_size != 12 || readId(static_cast<const kj::byte*>(key.mv_data)) != id) break;
    Record<records::Attempt> record(alignedCopy(val));
    fn(record.get());
  }
}

void Store::forEachFinished(kj::FunctionParam<bool(int64_t finishedAt, uint64_t id)> fn) {
  ReadTxn txn(env, dir);
  walk(txn.txn, finishedDb, dir, nullptr, [&](const MDB_val& key, const MDB_val&) {
    KJ_ASSERT(key.mv_size == 16, "malformed finished key", dir);
    auto bytes = static_cast<const kj::byte*>(key.mv_data);
    return fn(readTime(bytes), readId(bytes + 8));
  });
}

size_t Store::finishedCount() {
  ReadTxn txn(env, dir);
  MDB_stat stat;
  check(mdb_stat(txn.txn, finishedDb, &stat), "stat finished", dir);
  return stat.ms_entries;
}

kj::Maybe<kj::Own<Record<records::Tombstone>>> Store::getTombstone(uint64_t id) {
  KJ_IF_MAYBE(words, get(tombstonesDb, idKey(id))) {
    return kj::heap<Record<records::Tombstone>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachTombstone(kj::FunctionParam<bool(records::Tombstone::Reader)> fn) {
  ReadTxn txn(env, dir);
  walk(txn.txn, tombstonesDb, dir, nullptr, [&](const MDB_val&, const MDB_val& val) {
    Record<records::Tombstone> record(alignedCopy(val));
    return fn(record.get());
  });
}

kj::Maybe<kj::Own<Record<records::RequestMapping>>> Store::getRequest(uint32_t uid,
                                                                      kj::StringPtr requestId) {
  KJ_IF_MAYBE(words, get(requestsDb, requestKey(uid, requestId))) {
    return kj::heap<Record<records::RequestMapping>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachRequestByAge(
    kj::FunctionParam<bool(int64_t createdAt, uint32_t uid, kj::StringPtr requestId)> fn) {
  ReadTxn txn(env, dir);
  walk(txn.txn, requestsByAgeDb, dir, nullptr, [&](const MDB_val& key, const MDB_val&) {
    KJ_ASSERT(key.mv_size >= 12, "malformed request key", dir);
    auto bytes = static_cast<const kj::byte*>(key.mv_data);
    // LMDB's bytes carry no NUL; the copy gives fn a proper StringPtr.
    auto requestId = kj::heapString(reinterpret_cast<const char*>(bytes) + 12, key.mv_size - 12);
    return fn(readTime(bytes), readUid(bytes + 8), requestId);
  });
}

void Store::forEachQueueSettings(kj::FunctionParam<void(records::QueueSettings::Reader)> fn) {
  ReadTxn txn(env, dir);
  walk(txn.txn, queuesDb, dir, nullptr, [&](const MDB_val&, const MDB_val& val) {
    Record<records::QueueSettings> record(alignedCopy(val));
    fn(record.get());
    return true;
  });
}

// ---- The event log: seq (8 bytes, big-endian) -> records::Event ----

void Store::appendEvent(records::Event::Reader event, bool droppable) {
  stage(eventsDb, idKey(event.getSeq()), encode(event), droppable);
}

uint64_t Store::firstEventSeq() {
  ReadTxn txn(env, dir);
  uint64_t seq = 0;
  walk(txn.txn, eventsDb, dir, nullptr, [&](const MDB_val& key, const MDB_val&) {
    KJ_ASSERT(key.mv_size == 8, "malformed event key", dir);
    seq = readId(static_cast<const kj::byte*>(key.mv_data));
    return false;
  });
  return seq;
}

uint64_t Store::lastEventSeq() {
  ReadTxn txn(env, dir);
  Cursor cursor(txn.txn, eventsDb, dir);
  MDB_val key, val;
  int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_LAST);
  if (rc == MDB_NOTFOUND) return 0;
  check(rc, "last event", dir);
  KJ_ASSERT(key.mv_size == 8, "malformed event key", dir);
  return readId(static_cast<const kj::byte*>(key.mv_data));
}

void Store::forEachEventFrom(uint64_t seq, kj::FunctionParam<bool(records::Event::Reader)> fn) {
  ReadTxn txn(env, dir);
  walk(txn.txn, eventsDb, dir, idKey(seq), [&](const MDB_val&, const MDB_val& val) {
    Record<records::Event> record(alignedCopy(val));
    return fn(record.get());
  });
}

void Store::deleteEventsBefore(uint64_t seq, size_t limit) {
  kj::Vector<uint64_t> doomed;
  {
    ReadTxn txn(env, dir);
    walk(txn.txn, eventsDb, dir, nullptr, [&](const MDB_val& key, const MDB_val&) {
      uint64_t s = readId(static_cast<const kj::byte*>(key.mv_data));
      if (s >= seq || doomed.size() >= limit) return false;
      doomed.add(s);
      return true;
    });
  }
  for (auto s : doomed) stage(eventsDb, idKey(s), nullptr, false);
}

}  // namespace taskctl
