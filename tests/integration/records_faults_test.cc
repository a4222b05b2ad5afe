// Request records under faults, with the real binaries: the control plane's records database
// locked by another process (its batches fail, the data plane spills and sends them again once
// the lock is gone: every record arrives once), and a data plane that cannot write its spill
// file (a file size limit, as a full disk: the records are dropped and counted). Requests are
// served all the while.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace records_faults_test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kChat[] = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";

class RecordsFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "add", "local", "--base-url",
                                       cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"}));
    key_ = cluster_.createKeyInSync("team-a", {});
  }

  void chat(int n) {
    for (int i = 0; i < n; ++i) {
      Response r = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, kChat);
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }

  double metric(const std::string& series) {
    return metricValue(httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body,
                       series);
  }

  // How many records fwdctl usage counts, or -1.
  int storedRecords() {
    CommandResult r = cluster_.fwdctl({"-o", "json", "usage"});
    Json j = Json::parse(r.stdout_text, nullptr, false);
    if (r.exit_code != 0 || !j.is_object() || j["rows"].empty()) {
      return r.exit_code == 0 ? 0 : -1;
    }
    return j["rows"][0]["requests"].get<int>();
  }

  // This month's records file of the control plane.
  std::string recordsFile() {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char name[32];
    std::strftime(name, sizeof name, "records-%Y-%m.db", &utc);
    return (cluster_.dir().path() / "cp-data" / "records" / name).string();
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(RecordsFaultsTest, ALockedRecordsDatabaseDelaysRecordsButLosesNone) {
  chat(1);
  ASSERT_TRUE(waitFor([&] { return storedRecords() == 1; }, 15s, "the first record"));
  ASSERT_TRUE(std::filesystem::exists(recordsFile())) << recordsFile();
  // Another process holds the records file's write lock for longer than the control plane's
  // 5 s busy timeout: its batches fail with UNAVAILABLE and the data plane spills them.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(recordsFile().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto locked_at = std::chrono::steady_clock::now();
  chat(10);  // served meanwhile, as fast as ever
  EXPECT_LT(std::chrono::steady_clock::now() - locked_at, 5s);
  EXPECT_TRUE(waitFor([&] { return metric("fwd_records_push_failures_total") >= 1; }, 20s,
                      "a failed push"));
  EXPECT_TRUE(waitFor([&] { return metric("fwd_records_spilled_total") >= 10; }, 20s,
                      "10 records spilled"));
  EXPECT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  // Once the lock is gone, every record arrives, each once.
  EXPECT_TRUE(waitFor([&] { return storedRecords() == 11; }, 30s, "11 records stored"));
  EXPECT_TRUE(
      waitFor([&] { return metric("fwd_records_spill_bytes") == 0; }, 15s, "an empty spill file"));
  EXPECT_EQ(storedRecords(), 11);
}

TEST_F(RecordsFaultsTest, ASpillFileThatCannotBeWrittenDropsAndCountsWhileRequestsGoOn) {
  // A file size limit of 0 on the data plane: writing the spill file fails (EFBIG), as on a
  // full disk. (A limit of a few hundred bytes let a batch of one record through when the
  // records trickled in one by one, and the count of drops came out one short.)
  rlimit small{0, 0};
  ASSERT_EQ(::prlimit(cluster_.dataPlane("dp1").process->pid(), RLIMIT_FSIZE, &small, nullptr), 0);
  cluster_.killControlPlane();
  chat(20);
  ASSERT_TRUE(
      waitFor([&] { return metric("fwd_records_dropped_total{reason=\"spill_error\"}") == 20; },
              20s, "20 records dropped for a spill error"));
  EXPECT_EQ(metric("fwd_records_spilled_total"), 0);
  EXPECT_EQ(metric("fwd_records_spill_bytes"), 0);
  // The control plane back: new records arrive again (one made before the data plane reached it
  // may be lost too: it could not be spilled).
  ASSERT_TRUE(cluster_.restartControlPlaneOnSamePort());
  bool arrived = false;
  for (auto until = std::chrono::steady_clock::now() + 30s;
       !arrived && std::chrono::steady_clock::now() < until;) {
    chat(1);
    arrived = waitFor([&] { return storedRecords() >= 1; }, 1s, "a new record stored");
  }
  EXPECT_TRUE(arrived);
}

}  // namespace records_faults_test
}  // namespace fwd::harness
