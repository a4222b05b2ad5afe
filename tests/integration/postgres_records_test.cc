// Request records in Postgres (fwd-controlplane --records-postgres), against a real server
// started from Debian's package: the Postgres store answers every query exactly as the SQLite
// store does over the same records (usage by every grouping, newest first with filters, export
// pages, following), keeps a record sent twice once and a NUL in a client's model without
// failing the batch; and a whole cluster's records reach it, the control plane starting
// and serving while Postgres is down, and the records of an outage arriving once it is back.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <nlohmann/json.hpp>

#include "controlplane/records/postgres_store.h"
#include "controlplane/records/record_store.h"
#include "tests/integration/cluster/fwd_cluster.h"
#include "tests/integration/harness/postgres_server.h"

namespace fwd::harness {
namespace postgres_records_test {

using controlplane::records::GroupBy;
using controlplane::records::Page;
using controlplane::records::PostgresRecordStore;
using controlplane::records::Query;
using controlplane::records::RecordsDb;
using controlplane::records::RecordStore;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// 2026-11-30T23:30:00Z and 2026-12-01T00:30:00Z: either side of a month's end.
constexpr std::int64_t kNovember = 1'796'081'400'000;
constexpr std::int64_t kDecember = 1'796'085'000'000;

fwd::v1::Record record(const std::string& id, std::int64_t ms, const std::string& key,
                       const std::string& model, int status, std::uint64_t prompt,
                       std::uint64_t completion, std::uint64_t nano_usd, bool priced) {
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
  r.set_cached_tokens(prompt / 4);
  r.set_cost_nano_usd(nano_usd);
  r.set_priced(priced);
  return r;
}

std::vector<std::string> idsOf(const std::vector<fwd::v1::Record>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) {
    ids.push_back(r.id());
  }
  return ids;
}

/// Every id an oldest-first listing gives, a page of `page_size` at a time.
std::vector<std::string> exportAll(RecordsDb& db, Query q, size_t page_size) {
  q.limit = page_size;
  std::vector<std::string> ids;
  std::string token;
  for (int pages = 0; pages < 100; ++pages) {
    absl::StatusOr<Page> page = db.oldestFirst(q, token);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) {
      break;
    }
    for (const std::string& id : idsOf(page->records)) {
      ids.push_back(id);
    }
    if (page->next_token.empty()) {
      break;
    }
    token = page->next_token;
  }
  return ids;
}

class PostgresRecordsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new PostgresServer();
    ASSERT_TRUE(server_->start());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(server_->start());
    // Each test starts without the table (the store creates it).
    PGconn* conn = PQconnectdb(server_->dsn().c_str());
    ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
    PGresult* r = PQexec(conn, "DROP TABLE IF EXISTS fwd_records");
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conn);
    PQclear(r);
    PQfinish(conn);
  }

  static PostgresServer* server_;
};

PostgresServer* PostgresRecordsTest::server_ = nullptr;

TEST_F(PostgresRecordsTest, AnswersEveryQueryAsTheSqliteStoreDoes) {
  TempDir dir("fwd-records");
  auto sqlite = RecordStore::open(dir.file("records"));
  ASSERT_TRUE(sqlite.ok()) << sqlite.status();
  auto postgres = PostgresRecordStore::open(server_->dsn());
  ASSERT_TRUE(postgres.ok()) << postgres.status();
  std::vector<RecordsDb*> stores = {sqlite->get(), postgres->get()};

  const std::vector<fwd::v1::Record> batch = {
      record("n1", kNovember, "alice", "gpt-4o", 200, 100, 20, 1'500, true),
      record("n2", kNovember + 1, "bob", "llama3", 200, 40, 10, 0, false),
      record("d1", kDecember, "alice", "gpt-4o", 502, 0, 0, 0, true),
      record("d2", kDecember + 3'600'000, "alice", "gpt-4o-mini", 200, 300, 50, 90, true),
      record("t1", kDecember + 7'200'000, "bob", "gpt-4o", 429, 0, 0, 0, true),
      record("t2", kDecember + 7'200'000, "carol", "llama3", 200, 12, 3, 0, false),
      record("t3", kDecember + 7'200'000, "alice", "gpt-4o", 200, 7, 1, 35, true),
  };
  for (RecordsDb* db : stores) {
    auto added = db->write(batch);
    ASSERT_TRUE(added.ok()) << added.status();
    EXPECT_EQ(*added, batch.size());
    // Sent again (a data plane that did not see its ack) with one new record: one is added.
    std::vector<fwd::v1::Record> again = batch;
    again.push_back(record("d3", kDecember + 10, "carol", "gpt-4o", 500, 1, 0, 5, true));
    added = db->write(again);
    ASSERT_TRUE(added.ok()) << added.status();
    EXPECT_EQ(*added, 1u);
  }

  std::vector<Query> queries(7);
  queries[1].key = "alice";
  queries[2].status_class = 2;
  queries[3].from_ms = kDecember;
  queries[3].to_ms = kDecember + 7'200'000;
  queries[4].model = "llama3";
  queries[4].limit = 1;
  queries[5].upstream = "openai";
  queries[5].status_class = 5;
  queries[6].to_ms = kDecember;
  for (size_t i = 0; i < queries.size(); ++i) {
    const Query& q = queries[i];
    auto expected = (*sqlite)->recent(q);
    auto got = (*postgres)->recent(q);
    ASSERT_TRUE(expected.ok() && got.ok()) << got.status();
    EXPECT_EQ(idsOf(*got), idsOf(*expected)) << "query " << i;
    for (GroupBy by : {GroupBy::kNone, GroupBy::kKey, GroupBy::kModel, GroupBy::kUpstream,
                       GroupBy::kDay, GroupBy::kHour}) {
      auto want = (*sqlite)->usage(q, by);
      auto have = (*postgres)->usage(q, by);
      ASSERT_TRUE(want.ok() && have.ok()) << have.status();
      EXPECT_EQ(*have, *want) << "query " << i << ", grouping " << static_cast<int>(by);
    }
    for (size_t page_size : {1u, 2u, 3u, 100u}) {
      EXPECT_EQ(exportAll(**postgres, q, page_size), exportAll(**sqlite, q, page_size))
          << "query " << i << ", pages of " << page_size;
    }
  }
  auto whole = (*postgres)->recent(Query());
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(whole->size(), 8u);
  EXPECT_EQ((*whole)[0].cost_nano_usd(), 35u);  // the whole record comes back
  EXPECT_EQ((*whole)[0].cached_tokens(), 1u);

  // Following: the newest first, then what is stored after, in both stores alike.
  Query two;
  two.limit = 2;
  const std::int64_t now = kDecember + 86'400'000;
  auto from_sqlite = (*sqlite)->arrived(two, "", now);
  auto from_postgres = (*postgres)->arrived(two, "", now);
  ASSERT_TRUE(from_sqlite.ok() && from_postgres.ok()) << from_postgres.status();
  EXPECT_EQ(idsOf(from_postgres->records), idsOf(from_sqlite->records));
  const std::vector<fwd::v1::Record> later = {
      record("late", kNovember + 9, "alice", "gpt-4o", 200, 1, 1, 1, true),
      record("new", kDecember + 9, "bob", "gpt-4o", 200, 1, 1, 1, true)};
  for (RecordsDb* db : stores) {
    ASSERT_TRUE(db->write(later).ok());
  }
  Query all;
  all.limit = 1000;
  auto next_sqlite = (*sqlite)->arrived(all, from_sqlite->next_token, now);
  auto next_postgres = (*postgres)->arrived(all, from_postgres->next_token, now);
  ASSERT_TRUE(next_sqlite.ok() && next_postgres.ok()) << next_postgres.status();
  EXPECT_EQ(idsOf(next_postgres->records), (std::vector<std::string>{"late", "new"}));
  EXPECT_EQ(idsOf(next_sqlite->records), (std::vector<std::string>{"late", "new"}));
  auto nothing = (*postgres)->arrived(all, next_postgres->next_token, now);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->records.empty());

  // Tokens of another kind or store are refused.
  for (const std::string bad : {"x", "t:1:2:3", "pa:1", "pt:x:1"}) {
    EXPECT_EQ((*postgres)->oldestFirst(all, bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ((*postgres)->arrived(all, "pt:1:1", now).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresRecordsTest, ANulInAClientsModelDoesNotFailTheBatch) {
  auto db = PostgresRecordStore::open(server_->dsn());
  ASSERT_TRUE(db.ok()) << db.status();
  // {"model":"gpt\u0000-4o"} is valid JSON and valid UTF-8, but a NUL ends a Postgres text.
  const std::string model("gpt\0-4o", 7);
  fwd::v1::Record odd = record("odd", kDecember, "mallory", model, 200, 1, 1, 0, false);
  auto added =
      (*db)->write({odd, record("fine", kDecember + 1, "alice", "gpt-4o", 200, 1, 1, 0, false)});
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 2u);
  Query mallory;
  mallory.key = "mallory";
  auto found = (*db)->recent(mallory);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].model(), model);  // the record keeps the bytes as sent
  auto by_model = (*db)->usage(Query(), GroupBy::kModel);
  ASSERT_TRUE(by_model.ok());
  ASSERT_EQ(by_model->size(), 2u);
  EXPECT_EQ((*by_model)[1].group, "gpt\xEF\xBF\xBD-4o");
}

TEST_F(PostgresRecordsTest, AClusterKeepsItsRecordsInPostgresThroughAnOutage) {
  FwdCluster cluster;
  cluster.setPlaneFlags({.controlplane = {"--records-postgres", server_->dsn()}});
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("up1"));
  ASSERT_TRUE(cluster.startDataPlane("dp1"));
  ASSERT_TRUE(cluster.fwdctlInSync({"upstream", "add", "local", "--base-url",
                                    cluster.upstream("up1").baseUrl(), "--model", "gpt-*"}));
  const std::string key = cluster.createKeyInSync("team-a", {});
  const std::string chat = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
  auto requests = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(cluster.call("dp1", "POST", "/v1/chat/completions", key, chat).status, 200);
    }
  };
  auto requestsRecorded = [&] {
    CommandResult r = cluster.fwdctl({"-o", "json", "usage"});
    Json j = Json::parse(r.stdout_text, nullptr, false);
    return r.exit_code == 0 && j.is_object() && !j["rows"].empty()
               ? j["rows"][0]["requests"].get<int>()
               : -1;
  };
  requests(5);
  ASSERT_TRUE(waitFor([&] { return requestsRecorded() == 5; }, 15s, "5 records in Postgres"));
  std::string log = cluster.controlPlaneProcess()->stderrText();
  EXPECT_NE(log.find("request records go to Postgres at 127.0.0.1:" +
                     std::to_string(server_->port()) + "/postgres"),
            std::string::npos)
      << log;

  // Postgres goes away: requests are served, fwdctl logs says why it cannot answer, the records
  // wait in the data plane's spill file.
  server_->stop();
  requests(10);
  CommandResult down = cluster.fwdctl({"logs"});
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.stderr_text.find("records database (Postgres)"), std::string::npos)
      << down.stderr_text;
  ASSERT_TRUE(waitFor(
      [&] {
        std::string m = httpRequest(cluster.dataPlane("dp1").admin, "GET", "/metrics").body;
        return metricValue(m, "fwd_records_spilled_total") >= 10;
      },
      15s, "10 records spilled"));
  // A control plane started meanwhile serves config all the same.
  cluster.killControlPlane();
  ASSERT_TRUE(cluster.restartControlPlaneOnSamePort());
  ASSERT_TRUE(cluster.fwdctlInSync({"key", "create", "team-b"}));

  ASSERT_TRUE(server_->start());
  requests(1);
  ASSERT_TRUE(waitFor([&] { return requestsRecorded() == 16; }, 30s,
                      "all 16 records in Postgres, each once"))
      << requestsRecorded() << " records; " << cluster.fwdctl({"usage"}).stderr_text;
  Json logs = cluster.fwdctlJson({"logs", "--limit", "100"});
  EXPECT_EQ(logs["records"].size(), 16u);
}

}  // namespace postgres_records_test
}  // namespace fwd::harness
