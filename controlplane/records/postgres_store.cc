#include "controlplane/records/postgres_store.h"

#include <endian.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log/log.h"
#include "google/protobuf/util/time_util.h"

namespace fwd::controlplane::records {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS fwd_records(
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  time_ms BIGINT NOT NULL,
  key_name TEXT NOT NULL,
  model TEXT NOT NULL,
  upstream TEXT NOT NULL,
  status INTEGER NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  cost_nano_usd BIGINT NOT NULL,
  priced BOOLEAN NOT NULL,
  record BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS fwd_records_time ON fwd_records(time_ms, seq);
CREATE INDEX IF NOT EXISTS fwd_records_key_time ON fwd_records(key_name, time_ms);
)sql";

// Rows per INSERT: 12 parameters each, far below Postgres's 65,535.
constexpr size_t kRowsPerInsert = 500;

using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

/// A TEXT column's value: a NUL (valid UTF-8, and in a protobuf string) would end a text
/// parameter, so it becomes U+FFFD; the record itself keeps it. Records are UTF-8 already
/// (the data plane makes sure), else their batch would not have parsed.
std::string textOf(std::string_view s) {
  std::string out = common::log::validUtf8(s);
  for (size_t at; (at = out.find('\0')) != std::string::npos;) {
    out.replace(at, 1, "\xEF\xBF\xBD");
  }
  return out;
}

/// Statement parameters, text but for those added with binary().
class Params {
 public:
  /// "$N" of the value added.
  std::string text(std::string value) {
    values_.push_back(std::move(value));
    formats_.push_back(0);
    return "$" + std::to_string(values_.size());
  }
  std::string binary(std::string value) {
    values_.push_back(std::move(value));
    formats_.push_back(1);
    return "$" + std::to_string(values_.size());
  }
  std::string number(std::int64_t v) { return text(std::to_string(v)); }

  int count() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> p;
    for (const std::string& v : values_) {
      p.push_back(v.data());
    }
    return p;
  }
  std::vector<int> lengths() const {
    std::vector<int> l;
    for (const std::string& v : values_) {
      l.push_back(static_cast<int>(v.size()));
    }
    return l;
  }
  const int* formats() const { return formats_.data(); }

 private:
  std::vector<std::string> values_;
  std::vector<int> formats_;
};

/// libpq's message without its line ends.
std::string messageOf(const char* text) {
  std::string message = text != nullptr ? text : "out of memory";
  std::replace_if(
      message.begin(), message.end(), [](char c) { return c == '\n' || c == '\t'; }, ' ');
  while (!message.empty() && message.back() == ' ') {
    message.pop_back();
  }
  return message;
}

/// libpq prints the server's notices ("relation already exists, skipping") on stderr; the
/// control plane's log is not theirs.
void ignoreNotice(void*, const char*) {}

/// Ok for a result that succeeded; else Unavailable when the connection is gone, Internal when
/// the statement failed on a connection that is well.
absl::Status statusOf(pg_conn* conn, const PGresult* r) {
  const ExecStatusType status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    return absl::OkStatus();
  }
  std::string message = messageOf(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError("records database (Postgres) unavailable: " + message);
  }
  return absl::InternalError("records database (Postgres): " + message);
}

/// Runs `sql`; results in binary (bytea as its bytes, BIGINT as 8 bytes big-endian) when
/// `binary_results`. A failure is Unavailable when the connection is gone, else Internal.
absl::StatusOr<Result> run(pg_conn* conn, const std::string& sql, const Params& params,
                           bool binary_results) {
  std::vector<const char*> values = params.pointers();
  std::vector<int> lengths = params.lengths();
  Result r(PQexecParams(conn, sql.c_str(), params.count(), nullptr, values.data(), lengths.data(),
                        params.formats(), binary_results ? 1 : 0),
           &PQclear);
  if (absl::Status s = statusOf(conn, r.get()); !s.ok()) {
    return s;
  }
  return r;
}

/// Runs `sql`, which may be several statements and takes no parameters.
absl::Status runAll(pg_conn* conn, const std::string& sql) {
  Result r(PQexec(conn, sql.c_str()), &PQclear);
  return statusOf(conn, r.get());
}

std::int64_t int8At(const PGresult* r, int row, int column) {
  std::uint64_t v = 0;
  std::memcpy(&v, PQgetvalue(r, row, column), sizeof v);
  return static_cast<std::int64_t>(be64toh(v));
}

/// The record in `column` of every row of `r`.
absl::StatusOr<std::vector<fwd::v1::Record>> recordsOf(const PGresult* r, int column) {
  std::vector<fwd::v1::Record> out(static_cast<size_t>(PQntuples(r)));
  for (size_t i = 0; i < out.size(); ++i) {
    const int row = static_cast<int>(i);
    if (!out[i].ParseFromArray(PQgetvalue(r, row, column), PQgetlength(r, row, column))) {
      return absl::DataLossError("a record in fwd_records does not parse");
    }
  }
  return out;
}

/// " WHERE ..." for the query's times and filters.
std::string whereOf(const Query& q, Params& p) {
  std::string sql =
      " WHERE time_ms >= " + p.number(q.from_ms) + " AND time_ms < " +
      p.number(std::min<std::int64_t>(q.to_ms, std::numeric_limits<std::int64_t>::max()));
  auto text = [&](const char* column, const std::string& value) {
    if (!value.empty()) {
      absl::StrAppend(&sql, " AND ", column, " = ", p.text(textOf(value)));
    }
  };
  text("key_name", q.key);
  text("model", q.model);
  text("upstream", q.upstream);
  if (q.status_class >= 1 && q.status_class <= 5) {
    absl::StrAppend(&sql, " AND status >= ", q.status_class * 100, " AND status < ",
                    q.status_class * 100 + 100);
  }
  return sql;
}

const char* groupExpr(GroupBy by) {
  switch (by) {
    case GroupBy::kNone:
      return "''";
    case GroupBy::kKey:
      return "key_name";
    case GroupBy::kModel:
      return "model";
    case GroupBy::kUpstream:
      return "upstream";
    case GroupBy::kDay:
      return "to_char(to_timestamp(time_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
    case GroupBy::kHour:
      return "to_char(to_timestamp(time_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')";
  }
  return "''";
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresRecordStore>> PostgresRecordStore::open(
    const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    std::string message = messageOf(error);
    PQfreemem(error);
    return absl::InvalidArgumentError("--records-postgres: " + message);
  }
  std::map<std::string, std::string> given;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) {
      given[o->keyword] = o->val;
    }
  }
  PQconninfoFree(options);
  std::unique_ptr<PostgresRecordStore> store(new PostgresRecordStore(dsn));
  // libpq's defaults for what the DSN leaves out: the local socket, port 5432, the user's name.
  store->described_ = absl::StrCat(given.count("host") != 0 ? given["host"] : "localhost", ":",
                                   given.count("port") != 0 ? given["port"] : "5432", "/",
                                   given.count("dbname") != 0 ? given["dbname"] : "");
  return store;
}

absl::Status PostgresRecordStore::connect() {
  std::lock_guard lock(writer_.mu);
  absl::StatusOr<pg_conn*> conn = connected(writer_);
  return conn.ok() ? absl::OkStatus() : conn.status();
}

PostgresRecordStore::~PostgresRecordStore() {
  for (Connection* c : {&writer_, &reader_}) {
    std::lock_guard lock(c->mu);
    if (c->conn != nullptr) {
      PQfinish(c->conn);
    }
  }
}

absl::StatusOr<pg_conn*> PostgresRecordStore::connected(Connection& c) {
  if (c.conn != nullptr && PQstatus(c.conn) == CONNECTION_OK) {
    return c.conn;
  }
  if (c.conn != nullptr) {
    PQfinish(c.conn);
    c.conn = nullptr;
  }
  // The DSN comes last: what it sets wins over these defaults.
  const char* keys[] = {"connect_timeout", "application_name", "options", "dbname", nullptr};
  const char* values[] = {"5", "fwd-controlplane", "-c statement_timeout=30000", dsn_.c_str(),
                          nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string message = messageOf(conn != nullptr ? PQerrorMessage(conn) : nullptr);
    if (conn != nullptr) {
      PQfinish(conn);
    }
    return absl::UnavailableError("cannot connect to the records database (Postgres): " + message);
  }
  PQsetNoticeProcessor(conn, ignoreNotice, nullptr);
  // Either connection may be the first to a new database: each makes sure of the table (a
  // reader of a database no data plane wrote to yet finds no records, not an error).
  absl::Status s = runAll(conn, "SET client_encoding = 'UTF8'");
  if (s.ok()) {
    s = runAll(conn, kSchema);
  }
  if (!s.ok()) {
    PQfinish(conn);
    return s;
  }
  c.conn = conn;
  return conn;
}

absl::StatusOr<size_t> PostgresRecordStore::write(const std::vector<fwd::v1::Record>& records) {
  std::lock_guard lock(writer_.mu);
  absl::StatusOr<pg_conn*> conn = connected(writer_);
  if (!conn.ok()) {
    return conn.status();
  }
  if (absl::Status s = runAll(*conn, "BEGIN"); !s.ok()) {
    return absl::UnavailableError(s.message());
  }
  size_t added = 0;
  absl::Status failed;
  for (size_t at = 0; failed.ok() && at < records.size(); at += kRowsPerInsert) {
    Params p;
    std::string sql =
        "INSERT INTO fwd_records(id, time_ms, key_name, model, upstream, status, prompt_tokens, "
        "completion_tokens, cached_tokens, cost_nano_usd, priced, record) VALUES ";
    for (size_t i = at; i < std::min(records.size(), at + kRowsPerInsert); ++i) {
      const fwd::v1::Record& r = records[i];
      absl::StrAppend(&sql, i == at ? "(" : ",(", p.text(textOf(r.id())), ",",
                      p.number(TimeUtil::TimestampToMilliseconds(r.time())), ",",
                      p.text(textOf(r.key_name())), ",", p.text(textOf(r.model())), ",",
                      p.text(textOf(r.upstream())), ",", p.number(r.status()), ",",
                      p.number(static_cast<std::int64_t>(r.prompt_tokens())), ",",
                      p.number(static_cast<std::int64_t>(r.completion_tokens())), ",",
                      p.number(static_cast<std::int64_t>(r.cached_tokens())), ",",
                      p.number(static_cast<std::int64_t>(r.cost_nano_usd())), ",",
                      p.text(r.priced() ? "t" : "f"), ",", p.binary(r.SerializeAsString()), ")");
    }
    sql += " ON CONFLICT (id) DO NOTHING";
    absl::StatusOr<Result> r = run(*conn, sql, p, false);
    if (!r.ok()) {
      failed = r.status();
      break;
    }
    size_t n = 0;
    (void)absl::SimpleAtoi(PQcmdTuples(r->get()), &n);
    added += n;
  }
  if (failed.ok()) {
    failed = runAll(*conn, "COMMIT");
  }
  if (!failed.ok()) {
    (void)runAll(*conn, "ROLLBACK");
    // The data plane keeps the batch and sends it again: whatever failed, later may work.
    return absl::UnavailableError(failed.message());
  }
  return added;
}

absl::StatusOr<std::vector<fwd::v1::Record>> PostgresRecordStore::recentOn(pg_conn* conn,
                                                                           const Query& q) {
  if (q.limit == 0) {
    return std::vector<fwd::v1::Record>();
  }
  Params p;
  std::string sql = "SELECT record FROM fwd_records" + whereOf(q, p) +
                    " ORDER BY time_ms DESC, seq DESC LIMIT " + std::to_string(q.limit);
  absl::StatusOr<Result> r = run(conn, sql, p, true);
  if (!r.ok()) {
    return r.status();
  }
  return recordsOf(r->get(), 0);
}

absl::StatusOr<std::vector<fwd::v1::Record>> PostgresRecordStore::recent(const Query& q) {
  std::lock_guard lock(reader_.mu);
  absl::StatusOr<pg_conn*> conn = connected(reader_);
  if (!conn.ok()) {
    return conn.status();
  }
  return recentOn(*conn, q);
}

absl::StatusOr<Page> PostgresRecordStore::oldestFirst(const Query& q, const std::string& token) {
  // "pt:TIME_MS:SEQ", the last record of the previous page.
  std::int64_t after_time = 0, after_seq = 0;
  if (!token.empty()) {
    std::vector<std::string> parts = absl::StrSplit(token, ':');
    if (parts.size() != 3 || parts[0] != "pt" || !absl::SimpleAtoi(parts[1], &after_time) ||
        !absl::SimpleAtoi(parts[2], &after_seq)) {
      return absl::InvalidArgumentError("page_token: not a token of an oldest-first listing");
    }
  }
  Page page;
  if (q.limit == 0) {
    return page;
  }
  Params p;
  std::string sql = "SELECT seq, time_ms, record FROM fwd_records" + whereOf(q, p);
  if (!token.empty()) {
    sql += " AND (time_ms, seq) > (" + p.number(after_time) + ", " + p.number(after_seq) + ")";
  }
  sql += " ORDER BY time_ms, seq LIMIT " + std::to_string(q.limit);
  std::lock_guard lock(reader_.mu);
  absl::StatusOr<pg_conn*> conn = connected(reader_);
  if (!conn.ok()) {
    return conn.status();
  }
  absl::StatusOr<Result> r = run(*conn, sql, p, true);
  if (!r.ok()) {
    return r.status();
  }
  absl::StatusOr<std::vector<fwd::v1::Record>> records = recordsOf(r->get(), 2);
  if (!records.ok()) {
    return records.status();
  }
  page.records = std::move(*records);
  const int rows = PQntuples(r->get());
  if (rows > 0 && static_cast<size_t>(rows) == q.limit) {
    page.next_token =
        absl::StrCat("pt:", int8At(r->get(), rows - 1, 1), ":", int8At(r->get(), rows - 1, 0));
  }
  return page;
}

absl::StatusOr<Page> PostgresRecordStore::arrived(const Query& q, const std::string& token,
                                                  std::int64_t /*now_ms*/) {
  // "pa:SEQ": the last record read; every record is followed, whatever its month.
  std::int64_t after_seq = 0;
  if (!token.empty()) {
    std::vector<std::string> parts = absl::StrSplit(token, ':');
    if (parts.size() != 2 || parts[0] != "pa" || !absl::SimpleAtoi(parts[1], &after_seq)) {
      return absl::InvalidArgumentError("page_token: not a token of a following listing");
    }
  }
  Page page;
  std::lock_guard lock(reader_.mu);
  absl::StatusOr<pg_conn*> conn = connected(reader_);
  if (!conn.ok()) {
    return conn.status();
  }
  if (token.empty()) {
    // The newest records and the position after them from one snapshot: nothing stored in
    // between is skipped.
    if (absl::Status s = runAll(*conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::vector<fwd::v1::Record>> newest = recentOn(*conn, q);
    Params none;
    absl::StatusOr<Result> last =
        newest.ok() ? run(*conn, "SELECT COALESCE(MAX(seq), 0) FROM fwd_records", none, true)
                    : newest.status();
    (void)runAll(*conn, "COMMIT");
    if (!last.ok()) {
      return last.status();
    }
    page.records.assign(std::make_move_iterator(newest->rbegin()),
                        std::make_move_iterator(newest->rend()));
    page.next_token = absl::StrCat("pa:", int8At(last->get(), 0, 0));
    return page;
  }
  Params p;
  std::string sql = "SELECT seq, record FROM fwd_records" + whereOf(q, p) + " AND seq > " +
                    p.number(after_seq) + " ORDER BY seq LIMIT " + std::to_string(q.limit);
  absl::StatusOr<Result> r = run(*conn, sql, p, true);
  if (!r.ok()) {
    return r.status();
  }
  absl::StatusOr<std::vector<fwd::v1::Record>> records = recordsOf(r->get(), 1);
  if (!records.ok()) {
    return records.status();
  }
  page.records = std::move(*records);
  if (const int rows = PQntuples(r->get()); rows > 0) {
    after_seq = int8At(r->get(), rows - 1, 0);
  }
  page.next_token = absl::StrCat("pa:", after_seq);
  return page;
}

absl::StatusOr<std::vector<UsageRow>> PostgresRecordStore::usage(const Query& q, GroupBy by) {
  Params p;
  const std::string sql =
      std::string("SELECT ") + groupExpr(by) +
      ", COUNT(*), COUNT(*) FILTER (WHERE status >= 400), COALESCE(SUM(prompt_tokens), 0), "
      "COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0), "
      "COALESCE(SUM(cost_nano_usd), 0), "
      "COUNT(*) FILTER (WHERE NOT priced AND prompt_tokens + completion_tokens > 0) "
      "FROM fwd_records" +
      whereOf(q, p) + " GROUP BY 1";
  std::lock_guard lock(reader_.mu);
  absl::StatusOr<pg_conn*> conn = connected(reader_);
  if (!conn.ok()) {
    return conn.status();
  }
  absl::StatusOr<Result> r = run(*conn, sql, p, false);  // SUM is NUMERIC: read as text
  if (!r.ok()) {
    return r.status();
  }
  // Sorted by bytes, as the SQLite store sorts: not by the database's collation.
  std::map<std::string, UsageRow> groups;
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    auto u = [&](int column) {
      std::uint64_t v = 0;
      (void)absl::SimpleAtoi(PQgetvalue(r->get(), i, column), &v);
      return v;
    };
    UsageRow row;
    row.group = PQgetvalue(r->get(), i, 0);
    row.requests = u(1);
    row.errors = u(2);
    row.prompt_tokens = u(3);
    row.completion_tokens = u(4);
    row.cached_tokens = u(5);
    row.cost_nano_usd = u(6);
    row.unpriced_requests = u(7);
    groups[row.group] = std::move(row);
  }
  std::vector<UsageRow> out;
  out.reserve(groups.size());
  for (auto& [group, row] : groups) {
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace fwd::controlplane::records
