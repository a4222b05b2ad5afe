// The per-worker record ring: entries come out in order, a full ring refuses and counts, and a
// producer and a consumer on two threads lose nothing.
#include "dataplane/records/record_ring.h"

#include <gtest/gtest.h>

#include <thread>

namespace fwd::dataplane::records {
namespace record_ring_test {

TEST(RecordRingTest, EntriesComeOutInOrderAndAFullRingRefuses) {
  RecordRing ring(3);  // rounded up to 4
  ASSERT_EQ(ring.capacity(), 4u);
  for (int i = 0; i < 4; ++i) {
    RecordEntry* e = ring.claim();
    ASSERT_NE(e, nullptr);
    e->status = 200 + i;
    ring.publish();
  }
  EXPECT_EQ(ring.claim(), nullptr);
  EXPECT_EQ(ring.dropped(), 1u);
  for (int i = 0; i < 4; ++i) {
    const RecordEntry* e = ring.front();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->status, 200 + i);
    ring.pop();
  }
  EXPECT_EQ(ring.front(), nullptr);
  // A claimed slot is the oldest one freed: it holds what it held (the producer sets every field).
  RecordEntry* again = ring.claim();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->status, 200);
}

TEST(RecordRingTest, ProducerAndConsumerThreadsLoseNothingButWhatTheyDropped) {
  RecordRing ring(64);
  constexpr int kEntries = 200'000;
  std::thread producer([&] {
    for (int i = 0; i < kEntries; ++i) {
      if (RecordEntry* e = ring.claim()) {
        e->attempts = static_cast<std::uint32_t>(i);
        ring.publish();
      }
    }
  });
  std::uint64_t got = 0;
  std::int64_t last = -1;
  bool ordered = true;
  while (got + ring.dropped() < kEntries) {
    if (const RecordEntry* e = ring.front()) {
      ordered = ordered && static_cast<std::int64_t>(e->attempts) > last;
      last = e->attempts;
      ring.pop();
      ++got;
    }
  }
  producer.join();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(got + ring.dropped(), static_cast<std::uint64_t>(kEntries));
}

TEST(FixedStringTest, KeepsWhatFitsAndCutsTheRestBetweenCharacters) {
  FixedString<8> s;
  EXPECT_TRUE(s.empty());
  s.assign("gpt-4o");
  EXPECT_EQ(s.view(), "gpt-4o");
  s.assign("a-much-longer-name");
  EXPECT_EQ(s.view(), "a-much-");
  s.assign("ab\xe6\xa8\xa1\xe6\xa8\xa1");  // 模模: a cut at 7 bytes would split the second
  EXPECT_EQ(s.view(), "ab\xe6\xa8\xa1");
  s.assign(std::string_view{});  // data() is null: no memcpy from it (UBSan catches one)
  EXPECT_TRUE(s.empty());
}

}  // namespace record_ring_test
}  // namespace fwd::dataplane::records
