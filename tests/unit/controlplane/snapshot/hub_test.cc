// SnapshotHub: newest-only publication, latest-only waiting, and shutdown waking waiters.
#include "controlplane/snapshot/hub.h"

#include <gtest/gtest.h>

#include <future>

namespace fwd::controlplane::snapshot {
namespace {

using std::chrono::steady_clock;
constexpr auto kLongWait = std::chrono::seconds(30);
constexpr auto kTestDeadline = std::chrono::seconds(5);

SnapshotConstSharedPtr snapshotAt(std::uint64_t version) {
  auto s = std::make_shared<fwd::v1::Snapshot>();
  s->set_version(version);
  return s;
}

TEST(SnapshotHubTest, KeepsOnlyTheNewestVersion) {
  // An older or equal version never replaces a newer one (writers may publish out of order).
  SnapshotHub hub;
  EXPECT_TRUE(hub.current() == nullptr);
  EXPECT_TRUE(hub.publish(snapshotAt(3)));
  EXPECT_FALSE(hub.publish(snapshotAt(2)));
  EXPECT_FALSE(hub.publish(snapshotAt(3)));
  EXPECT_EQ(hub.current()->version(), 3u);
}

TEST(SnapshotHubTest, WaiterThatMissedVersionsGetsTheNewest) {
  // Versions published while a watcher was busy are skipped: it wakes to the latest only.
  SnapshotHub hub;
  hub.publish(snapshotAt(1));
  hub.publish(snapshotAt(2));
  hub.publish(snapshotAt(3));
  hub.publish(snapshotAt(4));
  SnapshotConstSharedPtr got = hub.waitNewer(1, steady_clock::now() + kLongWait);
  ASSERT_TRUE(got != nullptr);
  EXPECT_EQ(got->version(), 4u);
}

TEST(SnapshotHubTest, BlockedWaiterWakesOnPublish) {
  // A waiter blocked on its current version returns as soon as a newer one is published.
  SnapshotHub hub;
  hub.publish(snapshotAt(1));
  auto waiter = std::async(std::launch::async,
                           [&] { return hub.waitNewer(1, steady_clock::now() + kLongWait); });
  hub.publish(snapshotAt(2));
  ASSERT_EQ(waiter.wait_for(kTestDeadline), std::future_status::ready);
  SnapshotConstSharedPtr got = waiter.get();
  ASSERT_TRUE(got != nullptr);
  EXPECT_GE(got->version(), 2u);
}

TEST(SnapshotHubTest, WaitTimesOutWithoutNewerVersion) {
  // Nothing newer before the deadline: null, so the caller can check its stream and retry.
  SnapshotHub hub;
  hub.publish(snapshotAt(5));
  EXPECT_TRUE(hub.waitNewer(5, steady_clock::now() + std::chrono::milliseconds(20)) == nullptr);
  EXPECT_TRUE(hub.waitNewer(9, steady_clock::now()) == nullptr);
}

TEST(SnapshotHubTest, ShutdownWakesEveryWaiter) {
  // Shutdown releases waiters with far deadlines at once, and later waits return immediately.
  SnapshotHub hub;
  hub.publish(snapshotAt(1));
  std::vector<std::future<SnapshotConstSharedPtr>> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.push_back(std::async(
        std::launch::async, [&] { return hub.waitNewer(1, steady_clock::now() + kLongWait); }));
  }
  hub.shutdown();
  for (auto& w : waiters) {
    ASSERT_EQ(w.wait_for(kTestDeadline), std::future_status::ready);
    EXPECT_TRUE(w.get() == nullptr);
  }
  EXPECT_TRUE(hub.isShutdown());
  auto start = steady_clock::now();
  EXPECT_TRUE(hub.waitNewer(0, steady_clock::now() + kLongWait) == nullptr);
  EXPECT_LT(steady_clock::now() - start, kTestDeadline);
}

}  // namespace
}  // namespace fwd::controlplane::snapshot
