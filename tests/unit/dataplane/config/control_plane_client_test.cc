// ControlPlaneClient against an in-process fake WatchService: hello then a report on every
// stream, a report again only when something other than a countdown changed, acks on the same
// stream, and a prompt stop() whatever the reporter is doing.
#include "dataplane/config/control_plane_client.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/unit/dataplane/config/fake_watch_service.h"

namespace fwd::dataplane::config {
namespace {

using testing::FakeWatchServer;
using testing::FakeWatchService;
using Received = FakeWatchService::Received;
using std::chrono::milliseconds;

constexpr auto kWaitLimit = std::chrono::seconds(5);

fwd::v1::UpstreamState upstream(const std::string& name, bool ejected, std::int64_t ejection_left,
                                std::int64_t cooling_left, std::uint64_t ejections) {
  fwd::v1::UpstreamState s;
  s.set_name(name);
  s.set_ejected(ejected);
  if (ejection_left > 0) {
    s.mutable_ejection_left()->set_seconds(ejection_left);
  }
  if (cooling_left > 0) {
    s.mutable_cooling_left()->set_seconds(cooling_left);
  }
  s.set_ejections(ejections);
  return s;
}

fwd::v1::NodeReport reportOf(std::initializer_list<fwd::v1::UpstreamState> states) {
  fwd::v1::NodeReport r;
  for (const auto& s : states) {
    *r.add_upstreams() = s;
  }
  return r;
}

size_t countKind(const std::vector<Received>& all, fwd::v1::WatchRequest::KindCase kind,
                 int stream = 0) {
  size_t n = 0;
  for (const Received& r : all) {
    if (r.request.kind_case() == kind && (stream == 0 || r.stream == stream)) {
      ++n;
    }
  }
  return n;
}

class ControlPlaneClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<ControlPlaneClient> makeClient(
      milliseconds report_interval, bool with_report,
      ControlPlaneClient::LimitsQueryFn limits_query = nullptr) {
    ControlPlaneClient::Options options{.address = server_.address(),
                                        .credentials = nullptr,
                                        .node_token = "fwd-node-test",
                                        .node_id = "dp-test",
                                        .build_version = "test",
                                        .initial_backoff = milliseconds(10),
                                        .max_backoff = milliseconds(50),
                                        .report = nullptr,
                                        .report_interval = report_interval,
                                        .limits_query = std::move(limits_query)};
    if (with_report) {
      options.report = [this] { return currentReport(); };
    }
    return std::make_unique<ControlPlaneClient>(
        options,
        [this](const fwd::v1::Snapshot& s) {
          std::lock_guard<std::mutex> lock(mu_);
          applied_.push_back(s.version());
          return absl::OkStatus();
        },
        [](bool) {});
  }

  fwd::v1::NodeReport currentReport() {
    std::lock_guard<std::mutex> lock(mu_);
    ++report_calls_;
    cv_.notify_all();
    return report_;
  }
  void setReport(fwd::v1::NodeReport r) {
    std::lock_guard<std::mutex> lock(mu_);
    report_ = std::move(r);
  }
  /// Waits until the client has built `more` further reports: every one of those before the
  /// last was compared and, if changed, written by then (the reporter is one thread).
  ::testing::AssertionResult waitForReportCalls(int more) {
    std::unique_lock<std::mutex> lock(mu_);
    const int target = report_calls_ + more;
    if (cv_.wait_for(lock, kWaitLimit, [&] { return report_calls_ >= target; })) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "the client built only " << report_calls_ << " reports, waited for " << target;
  }

  FakeWatchServer server_;
  FakeWatchService& fake_ = server_.service();
  std::mutex mu_;  // guards report_, report_calls_, applied_
  std::condition_variable cv_;
  fwd::v1::NodeReport report_;
  int report_calls_ = 0;
  std::vector<std::uint64_t> applied_;
};

TEST_F(ControlPlaneClientTest, ReportFollowsHelloAndIsResentOnlyWhenItChanges) {
  // The stream opens with hello then the report; ticking countdowns alone send nothing; a real
  // change (the ejection ended) is sent once.
  const auto ejected = reportOf({upstream("a", true, 30, 5, 1), upstream("b", false, 0, 0, 0)});
  setReport(ejected);
  auto client = makeClient(milliseconds(5), true);
  client->start(4);
  ASSERT_TRUE(fake_.waitFor([](const auto& r) { return r.size() >= 2; }, "hello and report"));
  std::vector<Received> got = fake_.received();
  ASSERT_EQ(got[0].request.kind_case(), fwd::v1::WatchRequest::kHello);
  EXPECT_EQ(got[0].request.hello().node_id(), "dp-test");
  EXPECT_EQ(got[0].request.hello().applied_version(), 4u);
  EXPECT_EQ(fake_.lastAuthorization(), "Bearer fwd-node-test");
  ASSERT_EQ(got[1].request.kind_case(), fwd::v1::WatchRequest::kReport);
  EXPECT_EQ(got[1].request.report().ShortDebugString(), ejected.ShortDebugString());

  ASSERT_TRUE(waitForReportCalls(5));  // steady state
  setReport(reportOf({upstream("a", true, 29, 4, 1), upstream("b", false, 0, 0, 0)}));
  ASSERT_TRUE(waitForReportCalls(5));  // only the countdowns moved
  const auto recovered = reportOf({upstream("a", false, 0, 0, 1), upstream("b", false, 0, 0, 0)});
  setReport(recovered);
  ASSERT_TRUE(
      fake_.waitFor([](const auto& r) { return countKind(r, fwd::v1::WatchRequest::kReport) >= 2; },
                    "the changed report"));
  ASSERT_TRUE(waitForReportCalls(5));
  client->stop();
  // The stream is ordered: a report sent for the countdowns would have come before this one.
  got = fake_.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].request.report().ShortDebugString(), recovered.ShortDebugString());
}

TEST_F(ControlPlaneClientTest, LimitsQueriesAreAnsweredFromAnyThreadAndLateAnswersAreDropped) {
  // Answers come from another thread (a worker, after a Redis round trip); one given after its
  // stream ended is dropped, never written on the next stream. No report function: the sender
  // thread still writes answers.
  std::mutex mu;
  std::vector<std::thread> workers;
  ControlPlaneClient::AnswerFn late;
  auto client =
      makeClient(milliseconds(5), false,
                 [&](const fwd::v1::LimitsQuery& q, ControlPlaneClient::AnswerFn answer) {
                   fwd::v1::LimitsAnswer a;
                   a.set_id(q.id());
                   a.set_key_known(true);
                   a.mutable_state()->set_source("memory");
                   std::lock_guard<std::mutex> lock(mu);
                   if (q.key_id() == 1) {
                     workers.emplace_back([a, answer = std::move(answer)] {
                       std::this_thread::sleep_for(milliseconds(20));
                       answer(a);
                     });
                   } else {
                     late = [a, answer = std::move(answer)](fwd::v1::LimitsAnswer) { answer(a); };
                   }
                 });
  client->start(0);
  ASSERT_TRUE(fake_.waitFor([](const auto& r) { return !r.empty(); }, "hello"));
  EXPECT_TRUE(fake_.received()[0].request.hello().answers_limits_queries());
  fwd::v1::LimitsQuery query;
  query.set_id(7);
  query.set_key_id(1);
  ASSERT_TRUE(fake_.sendQuery(query));
  ASSERT_TRUE(fake_.waitFor(
      [](const auto& r) { return countKind(r, fwd::v1::WatchRequest::kLimitsAnswer) == 1; },
      "the answer"));
  for (const Received& r : fake_.received()) {
    if (r.request.has_limits_answer()) {
      EXPECT_EQ(r.request.limits_answer().id(), 7u);
      EXPECT_EQ(r.request.limits_answer().state().source(), "memory");
    }
  }
  query.set_id(8);
  query.set_key_id(2);
  ASSERT_TRUE(fake_.sendQuery(query));
  for (int i = 0; i < 500; ++i) {  // the query's arrival is nothing the fake sees: poll
    std::lock_guard<std::mutex> lock(mu);
    if (late) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(static_cast<bool>(late));
  fake_.dropStream();
  ASSERT_TRUE(
      fake_.waitFor([](const auto& r) { return countKind(r, fwd::v1::WatchRequest::kHello) == 2; },
                    "the reconnect"));
  {
    std::lock_guard<std::mutex> lock(mu);
    late(fwd::v1::LimitsAnswer());
  }
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(countKind(fake_.received(), fwd::v1::WatchRequest::kLimitsAnswer), 1);
  client->stop();
  for (std::thread& w : workers) {
    w.join();
  }
}

TEST_F(ControlPlaneClientTest, AcksAndReportsShareTheStream) {
  // Snapshots are acked while the reporter writes on the same stream; both arrive intact.
  setReport(reportOf({upstream("a", false, 0, 0, 0)}));
  auto client = makeClient(milliseconds(1), true);
  client->start(0);
  ASSERT_TRUE(fake_.waitFor([](const auto& r) { return r.size() >= 2; }, "hello and report"));
  for (std::uint64_t v = 1; v <= 20; ++v) {
    // Every report differs from the last, so the reporter writes all the time.
    setReport(reportOf({upstream("a", false, 0, 0, v)}));
    fwd::v1::Snapshot snapshot;
    snapshot.set_version(v);
    ASSERT_TRUE(fake_.send(snapshot));
  }
  ASSERT_TRUE(fake_.waitFor(
      [](const auto& r) { return countKind(r, fwd::v1::WatchRequest::kAck) == 20; }, "20 acks"));
  std::uint64_t expected = 1;
  for (const Received& r : fake_.received()) {
    if (r.request.kind_case() == fwd::v1::WatchRequest::kAck) {
      EXPECT_EQ(r.request.ack().version(), expected++);
    }
  }
  client->stop();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(applied_.size(), 20u);
}

TEST_F(ControlPlaneClientTest, EveryReconnectStartsWithHelloAndReport) {
  // After the stream drops, the new stream again opens with hello then the (unchanged) report.
  const auto report = reportOf({upstream("a", false, 0, 0, 2)});
  setReport(report);
  auto client = makeClient(milliseconds(5), true);
  client->start(0);
  ASSERT_TRUE(fake_.waitFor([](const auto& r) { return r.size() >= 2; }, "hello and report"));
  fake_.dropStream();
  ASSERT_TRUE(fake_.waitFor(
      [](const auto& r) { return countKind(r, fwd::v1::WatchRequest::kReport, 2) >= 1; },
      "a report on the second stream"));
  client->stop();
  std::vector<Received> second;
  for (const Received& r : fake_.received()) {
    if (r.stream == 2) {
      second.push_back(r);
    }
  }
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].request.kind_case(), fwd::v1::WatchRequest::kHello);
  EXPECT_EQ(second[1].request.report().ShortDebugString(), report.ShortDebugString());
}

TEST_F(ControlPlaneClientTest, StopIsPromptWhileTheReporterWaits) {
  // A reporter in the middle of an hour-long interval does not hold up stop().
  setReport(reportOf({upstream("a", false, 0, 0, 0)}));
  auto client = makeClient(std::chrono::hours(1), true);
  client->start(0);
  ASSERT_TRUE(fake_.waitFor([](const auto& r) { return r.size() >= 2; }, "hello and report"));
  const auto start = std::chrono::steady_clock::now();
  client->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(ControlPlaneClientTest, WithoutAReportFunctionNoReportIsSent) {
  // A client built without a report callback speaks the protocol as before: hello, then acks.
  auto client = makeClient(milliseconds(1), false);
  client->start(0);
  ASSERT_TRUE(fake_.waitFor([](const auto& r) { return r.size() >= 1; }, "hello"));
  fwd::v1::Snapshot snapshot;
  snapshot.set_version(1);
  ASSERT_TRUE(fake_.send(snapshot));
  ASSERT_TRUE(fake_.waitFor([](const auto& r) { return r.size() >= 2; }, "the ack"));
  client->stop();
  std::vector<Received> got = fake_.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].request.kind_case(), fwd::v1::WatchRequest::kAck);
  EXPECT_EQ(countKind(got, fwd::v1::WatchRequest::kReport), 0u);
}

}  // namespace
}  // namespace fwd::dataplane::config
