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
