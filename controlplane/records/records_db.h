// What the control plane keeps request records in (issue 17): the monthly SQLite files of
// RecordStore by default, or Postgres (PostgresRecordStore, fwd-controlplane --records-postgres).
// The records service writes batches to it; fwdctl usage and logs read it through the admin
// service. Both stores answer every query alike, tokens included (each its own kind).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fwd/v1/records.pb.h"

namespace fwd::controlplane::records {

/// Which records a query reads.
struct Query {
  std::int64_t from_ms = 0;                                       // inclusive
  std::int64_t to_ms = std::numeric_limits<std::int64_t>::max();  // exclusive
  std::string key;                                                // key name; empty: any
  std::string model;                                              // the model asked for; empty: any
  std::string upstream;                                           // empty: any
  int status_class = 0;                                           // 2..5: only 2xx..5xx; 0: any
  size_t limit = 100;  // recent(): the most records returned
};

enum class GroupBy { kNone, kKey, kModel, kUpstream, kDay, kHour };

/// What the records of one group add up to.
struct UsageRow {
  // The key name, model or upstream; "2026-12-05" by day, "2026-12-05T13" by hour (UTC);
  // empty with GroupBy::kNone.
  std::string group;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  // status 400 and above
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  std::uint64_t cached_tokens = 0;
  std::uint64_t cost_nano_usd = 0;
  // Requests that used tokens of a model without a price: their cost is not in cost_nano_usd.
  std::uint64_t unpriced_requests = 0;
  bool operator==(const UsageRow&) const = default;
};

/// A page of records, and where the next page starts.
struct Page {
  std::vector<fwd::v1::Record> records;
  // Opaque (ListRecordsResponse.next_page_token): oldestFirst leaves it empty after the last
  // page; arrived always sets it.
  std::string next_token;
};

class RecordsDb {
 public:
  virtual ~RecordsDb() = default;

  /// Stores `records`; records whose id is already stored are skipped. Returns how many were
  /// new. A failure is Unavailable when trying again later may work (the data plane does).
  virtual absl::StatusOr<size_t> write(const std::vector<fwd::v1::Record>& records) = 0;

  /// The newest records that match, newest first, at most q.limit.
  virtual absl::StatusOr<std::vector<fwd::v1::Record>> recent(const Query& q) = 0;

  /// The matching records after `token` ("": from the first) in time order, at most q.limit:
  /// an export a page at a time. A token that is not one of next_token's is InvalidArgument.
  virtual absl::StatusOr<Page> oldestFirst(const Query& q, const std::string& token) = 0;

  /// Records in the order they were stored, to follow them. Without a token: the newest
  /// q.limit that match, oldest of them first, and the position after the newest record
  /// stored; with one, the matching records stored after it (at most q.limit).
  virtual absl::StatusOr<Page> arrived(const Query& q, const std::string& token,
                                       std::int64_t now_ms) = 0;

  /// The matching records added up per group, sorted by group.
  virtual absl::StatusOr<std::vector<UsageRow>> usage(const Query& q, GroupBy by) = 0;
};

}  // namespace fwd::controlplane::records
