#include "scheduler/id-table.h"

#include <gtest/gtest.h>

#include <set>

namespace taskctl {
namespace {

struct Item {
  uint64_t key;
  kj::Own<int> owned;  // moved along with the item
  uint64_t id() const { return key; }
};

Item item(uint64_t id) { return Item{id, kj::heap<int>(int(id))}; }

std::set<uint64_t> ids(IdTable<Item>& table) {
  std::set<uint64_t> out;
  for (auto& [id, it] : table) {
    EXPECT_EQ(it->id(), id);
    EXPECT_EQ(*it->owned, int(id));
    out.insert(id);
  }
  return out;
}

TEST(IdTable, FindsWhatItHoldsAcrossChunks) {
  IdTable<Item> table;
  for (uint64_t id = 1; id <= 5000; id += 2) table.emplace(id, item(id));  // odd ids only
  EXPECT_EQ(table.size(), 2500u);
  for (uint64_t id = 0; id <= 5002; id++) {
    bool held = id % 2 == 1 && id <= 5000;
    EXPECT_EQ(table.count(id), held ? 1u : 0u) << id;
    auto it = table.find(id);
    ASSERT_EQ(it != table.end(), held) << id;
    if (held) {
      EXPECT_EQ(it->second->id(), id);
    }
  }
  EXPECT_EQ(ids(table).size(), 2500u);
}

TEST(IdTable, ReferencesSurviveAppendsAndErasesUntilCompact) {
  IdTable<Item> table;
  auto& first = table.emplace(10, item(10));
  for (uint64_t id = 11; id < 10000; id++) table.emplace(id, item(id));  // many new chunks
  EXPECT_EQ(&first, table.find(10)->second);
  // An erased entry is gone from lookups and walks but still readable.
  auto it = table.find(500);
  auto* erased = it->second;
  table.erase(it);
  EXPECT_EQ(table.count(500), 0u);
  EXPECT_EQ(erased->id(), 500u);
  EXPECT_EQ(*erased->owned, 500);
  EXPECT_EQ(table.size(), 9989u);
  EXPECT_EQ(ids(table).count(500), 0u);
  // Erasing where a walk stands is fine.
  size_t walked = 0;
  for (auto& [id, value] : table) {
    walked++;
    if (id % 3 == 0) table.erase(table.find(id));
  }
  EXPECT_EQ(walked, 9989u);
  auto left = ids(table);
  EXPECT_EQ(left.size(), table.size());
  table.compact();
  EXPECT_EQ(table.deadCount(), 0u);
  EXPECT_EQ(ids(table), left);
  for (auto id : left) EXPECT_EQ(table.find(id)->second->id(), id);
}

TEST(IdTable, AnIdBelowTheHighestIsHeldAsideAndMergedByCompact) {
  IdTable<Item> table;
  table.emplace(5, item(5));
  table.emplace(9, item(9));
  table.emplace(7, item(7));  // out of order
  table.emplace(3, item(3));
  table.emplace(12, item(12));
  EXPECT_EQ(table.size(), 5u);
  for (uint64_t id : {3, 5, 7, 9, 12}) EXPECT_EQ(table.find(id)->second->id(), id);
  EXPECT_EQ(table.count(8), 0u);
  EXPECT_ANY_THROW(table.emplace(7, item(7)));  // never twice
  table.erase(table.find(3));
  EXPECT_EQ(table.count(3), 0u);
  EXPECT_EQ(ids(table), (std::set<uint64_t>{5, 7, 9, 12}));
  table.compact();
  EXPECT_EQ(ids(table), (std::set<uint64_t>{5, 7, 9, 12}));
  std::vector<uint64_t> order;
  for (auto& entry : table) order.push_back(entry.first);
  EXPECT_EQ(order, (std::vector<uint64_t>{5, 7, 9, 12}));  // in id order again
  table.emplace(13, item(13));
  EXPECT_EQ(table.find(13)->second->id(), 13u);
}

TEST(IdTable, CompactFreesEmptyChunksAndRepacksOnlyPastAFifthDead) {
  IdTable<Item> table;
  for (uint64_t id = 1; id <= 10240; id++) table.emplace(id, item(id));    // ten chunks
  for (uint64_t id = 1025; id <= 2048; id++) table.erase(table.find(id));  // the second one
  for (uint64_t id = 2100; id < 2200; id++) table.erase(table.find(id));
  EXPECT_EQ(table.deadCount(), 1124u);
  auto* kept = table.find(5000)->second;
  table.compact();
  EXPECT_EQ(table.deadCount(), 100u);  // the empty chunk went; the rest stayed put
  EXPECT_EQ(table.find(5000)->second, kept);
  EXPECT_EQ(ids(table).size(), 9116u);
  for (uint64_t id = 3000; id < 5000; id++) table.erase(table.find(id));
  table.compact();  // now over a fifth: repacked
  EXPECT_EQ(table.deadCount(), 0u);
  auto left = ids(table);
  EXPECT_EQ(left.size(), 7116u);
  for (auto id : left) EXPECT_EQ(table.find(id)->second->id(), id);
  EXPECT_EQ(table.count(1), 1u);
  EXPECT_EQ(table.count(1025), 0u);
  EXPECT_EQ(table.count(4999), 0u);
  EXPECT_EQ(table.count(5000), 1u);
}

TEST(IdTable, ADrainedTableKeepsNothing) {
  IdTable<Item> table;
  for (uint64_t id = 1; id <= 3000; id++) table.emplace(id, item(id));
  for (uint64_t id = 1; id <= 3000; id++) table.erase(table.find(id));
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.begin(), table.end());
  table.compact();
  EXPECT_EQ(table.deadCount(), 0u);
  EXPECT_EQ(table.begin(), table.end());
  table.emplace(3001, item(3001));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.find(3001)->second->id(), 3001u);
}

}  // namespace
}  // namespace taskctl
