// Request records in Postgres (fwd-controlplane --records-postgres DSN), for fleets that
// outgrow the monthly SQLite files: one table, fwd_records, created when missing, with the same
// columns and indexes (time; key + time) and the whole record as its protobuf encoding. A
// record's id is unique (a batch sent twice is stored once); `seq` (BIGSERIAL) is the order
// records were stored in, which `fwdctl logs --follow` reads by. One control plane writes.
//
// Two connections (libpq, blocking: this runs on gRPC's threads, never a data plane's): one
// writes, one reads, so a long `fwdctl usage` never holds up the data planes' batches. A
// connection that broke is opened again on the next call; while Postgres is away, writes fail
// Unavailable and the data planes keep their records in their spill files until it is back.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "controlplane/records/records_db.h"

struct pg_conn;

namespace fwd::controlplane::records {

class PostgresRecordStore : public RecordsDb {
 public:
  /// Parses `dsn` (InvalidArgument when libpq cannot); connects on first use.
  static absl::StatusOr<std::unique_ptr<PostgresRecordStore>> open(const std::string& dsn);
  /// Connects the writer now, creating the table and indexes when missing; Unavailable when
  /// Postgres cannot be reached. The control plane starts either way: config never waits on
  /// the records database.
  absl::Status connect();
  ~PostgresRecordStore() override;

  absl::StatusOr<size_t> write(const std::vector<fwd::v1::Record>& records) override;
  absl::StatusOr<std::vector<fwd::v1::Record>> recent(const Query& q) override;
  absl::StatusOr<Page> oldestFirst(const Query& q, const std::string& token) override;
  absl::StatusOr<Page> arrived(const Query& q, const std::string& token,
                               std::int64_t now_ms) override;
  absl::StatusOr<std::vector<UsageRow>> usage(const Query& q, GroupBy by) override;

  /// "host:port/dbname" of the server, for logs (never the password or the whole DSN).
  const std::string& describe() const { return described_; }

 private:
  /// One connection and the lock that serialises its use.
  struct Connection {
    std::mutex mu;
    pg_conn* conn ABSL_GUARDED_BY(mu) = nullptr;
  };

  explicit PostgresRecordStore(std::string dsn) : dsn_(std::move(dsn)) {}
  /// The connection, opened (again) when it is not open and well.
  absl::StatusOr<pg_conn*> connected(Connection& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu);
  absl::StatusOr<std::vector<fwd::v1::Record>> recentOn(pg_conn* conn, const Query& q);

  const std::string dsn_;
  std::string described_;
  Connection writer_;
  Connection reader_;
};

}  // namespace fwd::controlplane::records
