// The control plane's notification sender: which records are which events, who hears of
// them, one message then one summary per window per (notifier, event, upstream), retries with
// backoff for what may pass and none for a refusal. Notifiers are real rows of a real store;
// sending is counted instead of done.
#include "controlplane/notify/notifications.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "controlplane/store/sqlite_store.h"
#include "tests/unit/controlplane/temp_dir.h"

namespace fwd::controlplane::notify {
namespace notifications_test {

using namespace std::chrono_literals;
using controlplane::testing::TempDir;

fwd::v1::Record record(int status, const std::string& upstream, const std::string& code = "",
                       fwd::v1::Outcome outcome = fwd::v1::OUTCOME_ERROR) {
  fwd::v1::Record r;
  r.set_status(status);
  r.set_upstream(upstream);
  r.set_error_code(code);
  r.set_outcome(outcome);
  r.set_node_id("dp1");
  r.set_model("gpt-4o");
  r.set_key_name("team-a");
  return r;
}

TEST(NotificationEventsTest, RecordsAreTheEventsTheyShow) {
  EXPECT_EQ(eventOf(record(200, "a", "", fwd::v1::OUTCOME_OK)), "");
  EXPECT_EQ(eventOf(record(404, "a")), "");
  EXPECT_EQ(eventOf(record(500, "a")), "5xx");  // the upstream's own 500, relayed
  EXPECT_EQ(eventOf(record(502, "a", "upstream_error")), "all_upstreams_failed");
  EXPECT_EQ(eventOf(record(502, "a", "upstream_error", fwd::v1::OUTCOME_PARTIAL)), "5xx");
  EXPECT_EQ(eventOf(record(429, "", "insufficient_quota")), "budget_exceeded");
  EXPECT_EQ(eventOf(record(429, "", "rate_limit_exceeded")), "");
}

class NotificationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open(dir_.path() + "/fwd.db");
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
  }

  void addNotifier(const std::string& name, std::vector<std::string> events) {
    fwd::v1::Notifier n;
    n.set_name(name);
    n.set_kind("webhook");
    n.set_url("http://example.com/" + name);
    for (auto& e : events) {
      n.add_events(e);
    }
    n.mutable_window()->set_seconds(1);
    ASSERT_TRUE(store_->createNotifier(n).ok());
  }

  Notifications::Options options() {
    Notifications::Options o;
    o.tick = 20ms;
    o.retry_backoff = {10ms, 20ms};
    o.send = [this](const fwd::v1::Notifier& n, const Message& m,
                    const std::string&) -> absl::StatusOr<int> {
      std::lock_guard lock(mu_);
      sent_.push_back({n.name(), m});
      if (!answers_.empty()) {
        absl::StatusOr<int> a = answers_.front();
        answers_.erase(answers_.begin());
        return a;
      }
      return 200;
    };
    return o;
  }

  std::vector<std::pair<std::string, Message>> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

  bool waitSent(size_t n, std::chrono::milliseconds within = 5s) {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (sent().size() >= n) {
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::mutex mu_;
  std::vector<std::pair<std::string, Message>> sent_;
  std::vector<absl::StatusOr<int>> answers_;
};

TEST_F(NotificationsTest, AnOutageSendsOneMessageThenOneSummaryPerWindow) {
  addNotifier("ops", {"5xx"});
  Notifications notifications(*store_, options());
  notifications.start();
  std::vector<fwd::v1::Record> burst;
  for (int i = 0; i < 50; ++i) {
    burst.push_back(record(500, "east"));
  }
  for (int i = 0; i < 3; ++i) {
    burst.push_back(record(503, "west"));
  }
  notifications.onRecords(burst);
  ASSERT_TRUE(waitSent(2));
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(sent().size(), 2u);  // the first of each upstream, at once
  EXPECT_EQ(sent()[0].second.upstream, "east");
  EXPECT_EQ(sent()[0].second.count, 1u);
  EXPECT_EQ(sent()[1].second.upstream, "west");
  // The window (1 s) closes: one summary each, with what it counted.
  ASSERT_TRUE(waitSent(4, 3s));
  std::map<std::string, std::uint64_t> summaries;
  for (size_t i = 2; i < 4; ++i) {
    summaries[sent()[i].second.upstream] = sent()[i].second.count;
    EXPECT_NE(sent()[i].second.text.find("more: "), std::string::npos) << sent()[i].second.text;
  }
  EXPECT_EQ(summaries, (std::map<std::string, std::uint64_t>{{"east", 49}, {"west", 2}}));
  // Nothing more came: the next window closes without a message.
  std::this_thread::sleep_for(1300ms);
  EXPECT_EQ(sent().size(), 4u);
  // A new event after that is news again, sent at once.
  notifications.onRecords({record(500, "east")});
  ASSERT_TRUE(waitSent(5));
  EXPECT_EQ(sent()[4].second.count, 1u);
  EXPECT_EQ(notifications.sent(), 5u);
}

TEST_F(NotificationsTest, EachNotifierHearsOfWhatItIsOnOnce) {
  addNotifier("five", {"5xx"});
  addNotifier("both", {"5xx", "all_upstreams_failed"});
  addNotifier("money", {"budget_exceeded"});
  addNotifier("ejections", {"upstream_ejected"});
  Notifications notifications(*store_, options());
  notifications.start();
  notifications.onRecords(
      {record(502, "east", "upstream_error"), record(429, "", "insufficient_quota")});
  notifications.onUpstreamEjected("dp2", "east");
  ASSERT_TRUE(waitSent(4));
  std::this_thread::sleep_for(200ms);
  std::multimap<std::string, std::string> got;
  for (const auto& [name, m] : sent()) {
    got.emplace(name, m.event);
  }
  EXPECT_EQ(got, (std::multimap<std::string, std::string>{{"both", "all_upstreams_failed"},
                                                          {"ejections", "upstream_ejected"},
                                                          {"five", "5xx"},
                                                          {"money", "budget_exceeded"}}));
  for (const auto& [name, m] : sent()) {
    if (name == "ejections") {
      EXPECT_EQ(m.text, "upstream east ejected by node dp2");
      EXPECT_EQ(m.node, "dp2");
    }
    if (name == "money") {
      EXPECT_EQ(m.key, "team-a");
    }
  }
}

TEST_F(NotificationsTest, FailuresAreRetriedWithBackoffButRefusalsAreNot) {
  addNotifier("ops", {"5xx"});
  answers_ = {absl::UnavailableError("connection refused"), 503, 200,  // delivered on the 3rd
              404};                                                    // refused: not retried
  Notifications notifications(*store_, options());
  notifications.start();
  notifications.onRecords({record(500, "east")});
  ASSERT_TRUE(waitSent(3));
  notifications.onRecords({record(500, "west")});
  ASSERT_TRUE(waitSent(4));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(sent().size(), 4u);
  EXPECT_EQ(notifications.sent(), 1u);
  EXPECT_EQ(notifications.failed(), 1u);
}

TEST_F(NotificationsTest, AReceiverThatHangsHoldsUpOnlyItsOwnBoundedOutbox) {
  addNotifier("dead", {"5xx"});
  addNotifier("live", {"5xx"});
  std::mutex gate_mu;
  std::condition_variable gate;
  bool open = false;
  Notifications::Options o = options();
  o.max_outbox = 5;
  Notifications::Send count = o.send;
  o.send = [&, count](const fwd::v1::Notifier& n, const Message& m,
                      const std::string& txn) -> absl::StatusOr<int> {
    if (n.name() == "dead") {  // a receiver that takes the connection and never answers
      std::unique_lock lock(gate_mu);
      gate.wait_for(lock, 10s, [&] { return open; });
    }
    return count(n, m, txn);
  };
  Notifications notifications(*store_, o);
  notifications.start();
  // Five upstreams: five messages each (one window per upstream).
  for (const char* upstream : {"a", "b", "c", "d", "e"}) {
    notifications.onRecords({record(500, upstream)});
  }
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitSent(5, 2s));  // every one of live's, while dead's first still hangs
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  for (const auto& [name, m] : sent()) {
    EXPECT_EQ(name, "live");
  }
  std::this_thread::sleep_for(100ms);  // dead's thread has its first message in the air
  // Five more: live sends them all; dead's outbox (one in the air, four waiting) takes one and
  // drops four, counted as failed.
  for (const char* upstream : {"f", "g", "h", "i", "j"}) {
    notifications.onRecords({record(500, upstream)});
  }
  ASSERT_TRUE(waitSent(10, 2s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(sent().size(), 10u);
  EXPECT_EQ(notifications.failed(), 4u);
  {
    std::lock_guard lock(gate_mu);
    open = true;
  }
  gate.notify_all();
  ASSERT_TRUE(waitSent(16));  // dead's six, once it answers
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(sent().size(), 16u);
  EXPECT_EQ(notifications.sent(), 16u);
}

}  // namespace notifications_test
}  // namespace fwd::controlplane::notify
