// The control plane's records database (issue 17): one SQLite file per UTC month,
// `records-YYYY-MM.db` in the records directory (GPT_API's monthly archive, without the
// archiving step), WAL, written in batches of one transaction per batch and month, indexed on
// time and on key + time. A record's id is unique: a batch sent twice (a data plane that
// reconnected before it saw its ack) is stored once. Queries span the months they cover. It is
// never the config database: writing records never waits on config writes, nor the reverse.
//
// Each row keeps the fields queries filter and add up as columns, and the whole record as its
// protobuf encoding, so a new field needs no migration.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "controlplane/records/records_db.h"
#include "controlplane/store/sqlite.h"
#include "fwd/v1/records.pb.h"

namespace fwd::controlplane::records {

/// Thread-safe: calls are serialised.
class RecordStore : public RecordsDb {
 public:
  /// Opens (creating) the directory; month files are opened as they are needed.
  static absl::StatusOr<std::unique_ptr<RecordStore>> open(const std::filesystem::path& dir);

  /// Stores `records`, each in the file of its time's month; records whose id is already
  /// stored are skipped. Returns how many were new. All of one month's records are written or
  /// none are.
  absl::StatusOr<size_t> write(const std::vector<fwd::v1::Record>& records) override;

  absl::StatusOr<std::vector<fwd::v1::Record>> recent(const Query& q) override;

  absl::StatusOr<Page> oldestFirst(const Query& q, const std::string& token) override;

  /// Records of the month `now_ms` falls in and of the month before are followed.
  absl::StatusOr<Page> arrived(const Query& q, const std::string& token,
                               std::int64_t now_ms) override;

  absl::StatusOr<std::vector<UsageRow>> usage(const Query& q, GroupBy by) override;

  /// The month files that exist, oldest first ("records-2026-11.db").
  std::vector<std::string> files() const;

  /// "records-2026-12.db" for the month `unix_ms` falls in (UTC).
  static std::string fileName(std::int64_t unix_ms);

 private:
  explicit RecordStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  /// The open database of month `index` (months since 1970-01); nullptr when its file does not
  /// exist and `create` is false.
  absl::StatusOr<store::Database*> month(std::int64_t index, bool create)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// The months in [q.from_ms, q.to_ms) whose files exist, newest first.
  std::vector<std::int64_t> monthsOf(const Query& q) const;
  /// Calls `row` with each row `sql` (its WHERE filled from `q`: " WHERE time_ms ..." is
  /// appended where the text says {where}) returns in each month of `q`, newest month first,
  /// until `row` returns false.
  using RowFn =
      std::function<absl::StatusOr<bool>(const store::Statement& row, std::int64_t month)>;
  absl::Status eachRow(const Query& q, const std::string& sql, const RowFn& row)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<std::vector<fwd::v1::Record>> recentLocked(const Query& q)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::filesystem::path dir_;
  std::mutex mu_;
  std::map<std::int64_t, std::unique_ptr<store::Database>> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fwd::controlplane::records
