// The durable store of taskctld: one LMDB environment holding tasks, their
// attempts, the id counter, the event log, request ids, queue settings,
// tombstones and the indexes (active tasks; finished tasks by time; request
// ids by age). Records are Cap'n Proto structs from schema/records.capnp.
//
// Its files: store-open (the environment, the map, corruption), store-upgrade
// (older formats), store-tables (keys, checksums, LMDB access), store-staging
// (staged writes, the commit), store-reads, store-recovery (the scan of the
// active tasks at start); store-check (--check-store, --salvage-store).
//
// Synchronous and single-threaded: it knows nothing of RPC, D-Bus or systemd.
// Writes are staged and reach the disk together in `commit()` (one write
// transaction: the group commit of a loop turn); reads see committed data only.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <records.capnp.h>

#include "common/task-words.h"

struct MDB_env;
struct MDB_txn;

namespace taskctl {

// The daemon's limits for reading a stored record (also what opening and
// --check-store decode with).
constexpr capnp::ReaderOptions STORE_READER_OPTIONS = {64 * 1024 * 1024 / 8, 64};

// An owned, word-aligned copy of one stored record. LMDB does not promise
// 8-byte alignment and capnp 0.9 rejects unaligned data, hence the copy.
// Its checksum was verified before it got here.
template <typename T>
class Record {
 public:
  explicit Record(kj::Array<capnp::word> words)
      : words(kj::mv(words)), reader(this->words, STORE_READER_OPTIONS) {}
  KJ_DISALLOW_COPY(Record);

  typename T::Reader get() { return reader.getRoot<T>(); }

 private:
  kj::Array<capnp::word> words;
  capnp::FlatArrayMessageReader reader;
};

struct StoreOptions {
  size_t initialMapBytes = 256ull << 20;  // store.map_size
  // The map grows (doubling) when full, up to this (store.max_map_size).
  size_t maxMapBytes = 1ull << 40;
  // Corruption found before serving() refuses the start (the daemon's
  // recovery reads past the constructor), rather than turning read-only.
  // Then the active tasks of a current store are read whole by the first
  // forEachActiveTask (recovery, before any write), not by the constructor.
  bool refuseUntilServing = false;
};

// Format 3 on: every value in every table is its payload (a Cap'n Proto
// message, or nothing for an index entry) followed by CRC32C(key, payload),
// 4 bytes little-endian. LMDB checks nothing of what it returns; this does.
constexpr size_t STORE_CHECKSUM_BYTES = 4;
kj::Array<kj::byte> sealValue(kj::ArrayPtr<const kj::byte> key,
                              kj::ArrayPtr<const kj::byte> payload);
kj::Maybe<kj::ArrayPtr<const kj::byte>> unsealValue(kj::ArrayPtr<const kj::byte> key,
                                                    kj::ArrayPtr<const kj::byte> value);
// The payload, or null when the checksum does not match.

// `taskctl drain` as the meta record keeps it (records.Meta.drained...).
struct DrainState {
  bool drained = false;
  uint32_t by = 0;  // the uid that drained it
  int64_t at = 0;   // realtime ns since the epoch
};

class Store {
 public:
  // Opens the LMDB environment in `dir`, creating it (mode 0700) if absent.
  // Throws, naming the path, when the store cannot be opened, was written by
  // a newer format, or its meta is inconsistent. Never replaces a store.
  // Before anything is written (not even an upgrade), checks that data.mdb
  // holds every page its meta counts and decodes every active task (see
  // refuseUntilServing): a store that fails is refused as corrupt, naming the
  // file, and left untouched.
  explicit Store(kj::StringPtr dir, StoreOptions options = {});
  ~Store() noexcept(false);
  KJ_DISALLOW_COPY(Store);

  kj::StringPtr path() const { return dir; }

  uint64_t allocateId();
  // A new task id: above every id ever handed out, also across restarts
  // (the counter is committed with the batch that stores the task).

  uint64_t peekNextId() const { return nextId; }
  // The id allocateId() gives next; every id below it has been handed out.

  const DrainState& drainState() const { return drain; }
  // As last set (staged or committed); as stored when the store was opened.
  void setDrainState(const DrainState& state);
  // Staged: the meta record carries it from the next commit on.

  // Staged writes, durable at the next commit(). A `droppable` write belongs
  // to a request that can still be refused (a submit): if the commit fails,
  // dropDroppable() removes it, and everything else stays staged for retry.
  void putTask(records::Task::Reader task, bool droppable = false);
  void putAttempt(records::Attempt::Reader attempt, bool droppable = false);

  size_t stagedCount() const { return ops.size(); }
  void commit();
  // Writes every staged change in one transaction. On MDB_MAP_FULL the map
  // grows and the whole batch is retried. Throws OVERLOADED (store full, disk
  // full) with everything still staged.
  void dropDroppable();

  void releaseMappedPages();
  // Drops the map's pages from this process's memory (RSS): a scan of many
  // records (the open) leaves them mapped. Nothing is lost: the file and
  // the page cache keep them, and the next read maps them again.

  uint64_t commitCount() const { return commits; }
  size_t mapBytes() const { return mapSize; }

  // Corruption found after opening (a checksum that does not match, a page
  // LMDB calls corrupt): the read that met it throws OVERLOADED naming it,
  // and the store turns read-only for good. Staged writes are then dropped
  // and commit() throws the same error, so nothing more reaches the file.
  kj::Maybe<kj::StringPtr> corruption() const;
  bool readOnly() const { return corruption() != nullptr; }
  void requireWritable() const;  // throws OVERLOADED naming the corruption
  [[noreturn]] void failCorrupt(kj::StringPtr detail);
  void serving() { opening = false; }

  const void* mapAddress();
  // Where LMDB maps data.mdb (found from a page's own number: LMDB does not
  // say), to tell a damaged node that points outside the file; null for a
  // store with no table yet.
  // With refuseUntilServing: startup is over (called before READY).
  // Records corruption met by a reader (this store's or LMDB's) and throws.

  void raiseNextId(uint64_t next);
  // Makes allocateId() give at least `next` (a salvage copying stored ids).

  // Reads (committed data only).
  kj::Maybe<kj::Own<Record<records::Task>>> getTask(uint64_t id);
  kj::Maybe<kj::Own<Record<records::Attempt>>> getAttempt(uint64_t id, uint32_t number);
  void forEachTask(kj::FunctionParam<bool(records::Task::Reader)> fn);
  // Ascending by id; return false from fn to stop.
  void forEachTaskNewestFirst(kj::FunctionParam<bool(records::Task::Reader)> fn);
  // Descending by id; return false from fn to stop (`list --limit`: the
  // newest N cost N reads, not one per stored task).
  void forEachTaskFrom(uint64_t first, kj::FunctionParam<bool(records::Task::Reader)> fn);
  // Ascending by id from the first id >= `first`; return false from fn to
  // stop (`list` pages: a page costs what it reads, not what lies before it).
  void forEachActiveTask(kj::FunctionParam<void(records::Task::Reader)> fn);
  // Every task not yet terminal, ascending by id.
  void forEachAttempt(uint64_t id, kj::FunctionParam<void(records::Attempt::Reader)> fn);

  // Retention (DESIGN 6). A terminal task is listed in the `finished` index
  // by (finishedAt, id) as putTask stores it; pruning removes the task, its
  // attempts and its index entry and leaves a tombstone.
  void forEachFinished(kj::FunctionParam<bool(int64_t finishedAt, uint64_t id)> fn);
  // Oldest finish first; return false from fn to stop.
  size_t finishedCount();
  // Committed terminal tasks still stored (an O(1) mdb_stat).
  void pruneTask(uint64_t id, records::Tombstone::Reader tombstone);
  // Staged: deletes the task, its attempts and its `finished` entry, and
  // puts the tombstone. The caller checked that the task is terminal.
  kj::Maybe<kj::Own<Record<records::Tombstone>>> getTombstone(uint64_t id);
  void forEachTombstone(kj::FunctionParam<bool(records::Tombstone::Reader)> fn);
  // Ascending by id; return false from fn to stop.
  void deleteTombstone(uint64_t id);  // staged

  // Request ids: (uid, request id) -> the first task, kept 24 h whatever
  // retention does. A second index by creation time lets them expire.
  void putRequest(uint32_t uid, kj::StringPtr requestId, records::RequestMapping::Reader mapping,
                  bool droppable = false);
  kj::Maybe<kj::Own<Record<records::RequestMapping>>> getRequest(uint32_t uid,
                                                                 kj::StringPtr requestId);
  void forEachRequestByAge(
      kj::FunctionParam<bool(int64_t createdAt, uint32_t uid, kj::StringPtr requestId)> fn);
  // Oldest first; return false from fn to stop.
  void deleteRequest(uint32_t uid, kj::StringPtr requestId, int64_t createdAt);  // staged

  // The event log: events by seq. lastEventSeq() is the highest committed
  // (0: none); the next seq continues from it after a restart.
  void appendEvent(records::Event::Reader event, bool droppable = false);  // staged
  uint64_t firstEventSeq();                                                // 0: the log is empty
  uint64_t lastEventSeq();
  void forEachEventFrom(uint64_t seq, kj::FunctionParam<bool(records::Event::Reader)> fn);
  // Ascending from `seq` (committed events only); return false to stop.
  void deleteEventsBefore(uint64_t seq, size_t limit);
  // Staged: deletes at most `limit` of the oldest events below `seq`.

  // Queue settings made at run time; they win over the TOML.
  void putQueueSettings(records::QueueSettings::Reader settings);  // staged
  void deleteQueueSettings(kj::StringPtr name);                    // staged
  void forEachQueueSettings(kj::FunctionParam<void(records::QueueSettings::Reader)> fn);

 private:
  struct Op {
    unsigned dbi;
    kj::Array<kj::byte> key;
    kj::Maybe<kj::Array<kj::byte>> value;  // sealed; null: delete
    bool droppable;
  };

  kj::String dir;
  kj::String dataFile;  // dir/data.mdb: what messages about corruption name
  kj::Maybe<kj::String> corrupted;
  bool opening = true;            // corruption now refuses the start
  const void* mapBase = nullptr;  // mapAddress(); forgotten when the map moves
  StoreOptions options;
  size_t mapSize;
  ::MDB_env* env = nullptr;
  unsigned metaDb, tasksDb, attemptsDb, activeDb;
  unsigned finishedDb, tombstonesDb, requestsDb, requestsByAgeDb, queuesDb, eventsDb;
  uint64_t nextId = 1;
  uint64_t committedNextId = 1;
  DrainState drain, committedDrain;
  bool drainStaged = false;
  uint64_t commits = 0;
  kj::Vector<Op> ops;

  void checkFileSize();
  void openAndCheck();
  void verifyActive(::MDB_txn* txn, uint32_t version);
  void verifyActiveRecord(uint64_t id, kj::ArrayPtr<const capnp::word> words);
  void upgradeFormat(::MDB_txn* txn, uint32_t version, uint64_t nextId);
  void growMap();
  void stage(unsigned dbi, kj::Array<kj::byte> key, kj::Maybe<kj::Array<capnp::word>> value,
             bool droppable);
  bool tryCommit();  // false on MDB_MAP_FULL (the txn was aborted)
  kj::Maybe<kj::Array<capnp::word>> get(unsigned dbi, kj::StringPtr table,
                                        kj::ArrayPtr<const kj::byte> key);
};

kj::Maybe<kj::String> storeFileProblem(kj::StringPtr dataFile);
// Why LMDB must not map `dataFile` (too short for its meta pages, not LMDB,
// fewer pages than its meta counts), or null (sound, or absent).

void throwOnLmdbAssert(::MDB_env* env, const char* message);
// For mdb_env_set_assert: an LMDB assert (an inconsistent page) as an exception.

}  // namespace taskctl
