// The records database: one file per UTC month, a record sent twice kept once, recent records
// newest first across months with filters, usage added up by key, model, upstream, day or hour,
// and everything still there after reopening.
#include "controlplane/records/record_store.h"

#include <gtest/gtest.h>

#include "tests/unit/controlplane/temp_dir.h"

namespace fwd::controlplane::records {
namespace {

using controlplane::testing::TempDir;

// 2026-11-30T23:30:00Z and 2026-12-01T00:30:00Z: either side of a month's end.
constexpr std::int64_t kNovember = 1'796'081'400'000;
constexpr std::int64_t kDecember = 1'796'085'000'000;

fwd::v1::Record record(const std::string& id, std::int64_t ms, const std::string& key,
                       const std::string& model, int status, std::uint64_t prompt,
                       std::uint64_t completion, std::uint64_t nano_usd, bool priced = true) {
  fwd::v1::Record r;
  r.set_id(id);
  r.mutable_time()->set_seconds(ms / 1000);
  r.mutable_time()->set_nanos(static_cast<std::int32_t>(ms % 1000) * 1'000'000);
  r.set_key_name(key);
  r.set_model(model);
  r.set_upstream(model.starts_with("gpt") ? "openai" : "local");
  r.set_status(status);
  r.set_prompt_tokens(prompt);
  r.set_completion_tokens(completion);
  r.set_cost_nano_usd(nano_usd);
  r.set_priced(priced);
  r.set_path("/v1/chat/completions");
  return r;
}

std::vector<std::string> idsOf(const std::vector<fwd::v1::Record>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) {
    ids.push_back(r.id());
  }
  return ids;
}

TEST(RecordStoreTest, EachMonthHasItsFileAndARecordSentTwiceIsKeptOnce) {
  TempDir dir;
  auto store = RecordStore::open(dir.path() + "/records");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(RecordStore::fileName(kNovember), "records-2026-11.db");
  EXPECT_EQ(RecordStore::fileName(kDecember), "records-2026-12.db");
  std::vector<fwd::v1::Record> batch = {
      record("a", kNovember, "alice", "gpt-4o", 200, 10, 5, 1000),
      record("b", kDecember, "alice", "gpt-4o", 200, 20, 5, 2000),
      record("c", kDecember + 1000, "bob", "llama", 502, 0, 0, 0, false),
  };
  auto added = (*store)->write(batch);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 3u);
  // A data plane that resends a batch (it reconnected before its ack) adds nothing twice.
  batch.push_back(record("d", kDecember + 2000, "bob", "llama", 200, 7, 3, 0, false));
  added = (*store)->write(batch);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 1u);
  EXPECT_EQ((*store)->files(),
            (std::vector<std::string>{"records-2026-11.db", "records-2026-12.db"}));

  // Newest first, across both months; the whole record comes back.
  Query all;
  auto recent = (*store)->recent(all);
  ASSERT_TRUE(recent.ok()) << recent.status();
  EXPECT_EQ(idsOf(*recent), (std::vector<std::string>{"d", "c", "b", "a"}));
  EXPECT_EQ((*recent)[3].path(), "/v1/chat/completions");
  EXPECT_EQ((*recent)[3].time().seconds(), kNovember / 1000);

  Query some;
  some.key = "bob";
  some.status_class = 5;
  EXPECT_EQ(idsOf(*(*store)->recent(some)), (std::vector<std::string>{"c"}));
  Query limited;
  limited.limit = 3;
  EXPECT_EQ(idsOf(*(*store)->recent(limited)), (std::vector<std::string>{"d", "c", "b"}));
  Query november;
  november.to_ms = kDecember;
  EXPECT_EQ(idsOf(*(*store)->recent(november)), (std::vector<std::string>{"a"}));
  Query december;
  december.from_ms = kDecember + 500;
  december.model = "llama";
  EXPECT_EQ(idsOf(*(*store)->recent(december)), (std::vector<std::string>{"d", "c"}));
}

TEST(RecordStoreTest, OldestFirstPagesThroughEveryMatchingRecordOnce) {
  TempDir dir;
  auto store = RecordStore::open(dir.path() + "/records");
  ASSERT_TRUE(store.ok()) << store.status();
  // Seven records over two months, three of them at the same millisecond (ties go by the order
  // they were stored), written out of time order.
  ASSERT_TRUE((*store)
                  ->write({record("d3", kDecember + 3000, "bob", "llama", 200, 1, 1, 0),
                           record("n1", kNovember, "alice", "gpt-4o", 200, 1, 1, 0),
                           record("d1", kDecember, "alice", "gpt-4o", 500, 1, 1, 0),
                           record("t1", kDecember + 2000, "alice", "gpt-4o", 200, 1, 1, 0),
                           record("t2", kDecember + 2000, "bob", "gpt-4o", 200, 1, 1, 0),
                           record("t3", kDecember + 2000, "alice", "gpt-4o", 200, 1, 1, 0),
                           record("n2", kNovember + 1, "bob", "llama", 200, 1, 1, 0)})
                  .ok());
  const std::vector<std::string> all = {"n1", "n2", "d1", "t1", "t2", "t3", "d3"};
  for (size_t page_size : {1u, 2u, 3u, 7u, 100u}) {
    Query q;
    q.limit = page_size;
    std::vector<std::string> got;
    std::string token;
    for (int pages = 0;; ++pages) {
      ASSERT_LT(pages, 10);
      auto page = (*store)->oldestFirst(q, token);
      ASSERT_TRUE(page.ok()) << page.status();
      ASSERT_LE(page->records.size(), page_size);
      for (const std::string& id : idsOf(page->records)) {
        got.push_back(id);
      }
      if (page->next_token.empty()) {
        break;
      }
      token = page->next_token;
    }
    EXPECT_EQ(got, all) << "pages of " << page_size;
  }
  // Filters and times hold on every page.
  Query alice;
  alice.key = "alice";
  alice.from_ms = kNovember + 1;
  alice.limit = 1;
  auto first = (*store)->oldestFirst(alice, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(idsOf(first->records), (std::vector<std::string>{"d1"}));
  auto second = (*store)->oldestFirst(alice, first->next_token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(idsOf(second->records), (std::vector<std::string>{"t1"}));
  for (const std::string bad : {"x", "t:1:2", "t:a:1:1", "a:1=2", "t:-1:0:0"}) {
    auto page = (*store)->oldestFirst(alice, bad);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RecordStoreTest, ArrivalFollowsRecordsAsTheyAreStoredInBothFollowedMonths) {
  TempDir dir;
  auto store = RecordStore::open(dir.path() + "/records");
  ASSERT_TRUE(store.ok()) << store.status();
  const std::int64_t now = kDecember + 60'000;
  ASSERT_TRUE((*store)
                  ->write({record("a", kNovember, "alice", "gpt-4o", 200, 1, 1, 0),
                           record("b", kDecember, "bob", "gpt-4o", 200, 1, 1, 0),
                           record("c", kDecember + 1, "alice", "gpt-4o", 200, 1, 1, 0)})
                  .ok());
  // The first call: the newest that match, oldest of them first, like tail.
  Query alice;
  alice.key = "alice";
  alice.limit = 1;
  auto first = (*store)->arrived(alice, "", now);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(idsOf(first->records), (std::vector<std::string>{"c"}));
  Query any;
  any.limit = 2;
  auto tail = (*store)->arrived(any, "", now);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(idsOf(tail->records), (std::vector<std::string>{"b", "c"}));
  auto nothing = (*store)->arrived(alice, first->next_token, now);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->records.empty());

  // A late record of last month (a long stream, or a data plane's spill) is followed too, and
  // one sent twice is not shown twice.
  ASSERT_TRUE((*store)
                  ->write({record("late", kNovember + 5, "alice", "gpt-4o", 200, 1, 1, 0),
                           record("d", kDecember + 9, "alice", "gpt-4o", 200, 1, 1, 0),
                           record("e", kDecember + 8, "bob", "gpt-4o", 200, 1, 1, 0)})
                  .ok());
  ASSERT_TRUE((*store)->write({record("d", kDecember + 9, "alice", "gpt-4o", 200, 1, 1, 0)}).ok());
  Query alice_pages = alice;
  alice_pages.limit = 1000;
  auto next = (*store)->arrived(alice_pages, nothing->next_token, now);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(idsOf(next->records), (std::vector<std::string>{"late", "d"}));
  auto again = (*store)->arrived(alice_pages, next->next_token, now);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->records.empty());

  // A page that fills stops where it filled; the rest comes next time.
  Query one;
  one.limit = 1;
  auto p1 = (*store)->arrived(one, tail->next_token, now);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(idsOf(p1->records), (std::vector<std::string>{"late"}));
  auto p2 = (*store)->arrived(one, p1->next_token, now);
  auto p3 = (*store)->arrived(one, p2->next_token, now);
  auto p4 = (*store)->arrived(one, p3->next_token, now);
  ASSERT_TRUE(p2.ok() && p3.ok() && p4.ok());
  EXPECT_EQ(idsOf(p2->records), (std::vector<std::string>{"d"}));
  EXPECT_EQ(idsOf(p3->records), (std::vector<std::string>{"e"}));
  EXPECT_TRUE(p4->records.empty());

  // January: December is now the previous month and January's file is new.
  const std::int64_t january = kDecember + 31LL * 86'400'000;
  ASSERT_TRUE((*store)->write({record("j", january, "alice", "gpt-4o", 200, 1, 1, 0)}).ok());
  auto in_january = (*store)->arrived(alice_pages, again->next_token, january + 1000);
  ASSERT_TRUE(in_january.ok()) << in_january.status();
  EXPECT_EQ(idsOf(in_january->records), (std::vector<std::string>{"j"}));
  for (const std::string bad : {"x", "a:1", "a:x=1", "t:1:1:1"}) {
    EXPECT_EQ((*store)->arrived(alice, bad, now).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(RecordStoreTest, UsageAddsUpPerGroupOverTheMonthsAQueryCovers) {
  TempDir dir;
  auto store = RecordStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)
                  ->write({record("a", kNovember, "alice", "gpt-4o", 200, 10, 5, 1000),
                           record("b", kDecember, "alice", "gpt-4o", 200, 20, 5, 2000),
                           record("c", kDecember + 1000, "bob", "llama", 502, 0, 0, 0, false),
                           record("d", kDecember + 3'600'000, "bob", "llama", 200, 7, 3, 0, false)})
                  .ok());
  auto total = (*store)->usage(Query(), GroupBy::kNone);
  ASSERT_TRUE(total.ok()) << total.status();
  ASSERT_EQ(total->size(), 1u);
  EXPECT_EQ((*total)[0], (UsageRow{"", 4, 1, 37, 13, 0, 3000, 1}));

  auto by_key = (*store)->usage(Query(), GroupBy::kKey);
  ASSERT_TRUE(by_key.ok());
  ASSERT_EQ(by_key->size(), 2u);
  EXPECT_EQ((*by_key)[0], (UsageRow{"alice", 2, 0, 30, 10, 0, 3000, 0}));
  EXPECT_EQ((*by_key)[1], (UsageRow{"bob", 2, 1, 7, 3, 0, 0, 1}));

  auto by_day = (*store)->usage(Query(), GroupBy::kDay);
  ASSERT_TRUE(by_day.ok());
  ASSERT_EQ(by_day->size(), 2u);
  EXPECT_EQ((*by_day)[0].group, "2026-11-30");
  EXPECT_EQ((*by_day)[1].group, "2026-12-01");
  EXPECT_EQ((*by_day)[1].requests, 3u);

  auto by_hour = (*store)->usage(Query(), GroupBy::kHour);
  ASSERT_TRUE(by_hour.ok());
  ASSERT_EQ(by_hour->size(), 3u);
  EXPECT_EQ((*by_hour)[1].group, "2026-12-01T00");
  EXPECT_EQ((*by_hour)[2].group, "2026-12-01T01");

  Query openai;
  openai.upstream = "openai";
  openai.from_ms = kDecember;
  auto by_model = (*store)->usage(openai, GroupBy::kModel);
  ASSERT_TRUE(by_model.ok());
  ASSERT_EQ(by_model->size(), 1u);
  EXPECT_EQ((*by_model)[0], (UsageRow{"gpt-4o", 1, 0, 20, 5, 0, 2000, 0}));
  // Nothing in range: no rows, not an error.
  Query none;
  none.from_ms = kDecember + 86'400'000;
  EXPECT_TRUE((*store)->usage(none, GroupBy::kKey)->empty());
}

TEST(RecordStoreTest, RecordsOutliveTheStoreAndOtherFilesAreLeftAlone) {
  TempDir dir;
  {
    auto store = RecordStore::open(dir.path());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->write({record("a", kNovember, "alice", "gpt-4o", 200, 1, 1, 1)}).ok());
  }
  std::ofstream(dir.file("records-notes.db")) << "not a month";
  std::ofstream(dir.file("records-2026-13.db")) << "no such month";
  auto store = RecordStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->files(), (std::vector<std::string>{"records-2026-11.db"}));
  EXPECT_EQ(idsOf(*(*store)->recent(Query())), (std::vector<std::string>{"a"}));
  // An empty batch writes nothing and opens nothing.
  EXPECT_EQ(*(*store)->write({}), 0u);
}

}  // namespace
}  // namespace fwd::controlplane::records
