// The request records the control plane keeps, for the whole fleet: `fwdctl usage`, what they
// add up to (requests, errors, tokens, cost), grouped by key, model, upstream, day or hour
// (GetUsage), and `fwdctl logs`, the newest records themselves (ListRecords); both filtered by
// key, model, upstream, status and time.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

/// `usage` and `logs`.
std::vector<CommandSpec> recordsCommands();

/// The request `fwdctl usage` sends for `inv`, at `now`; a usage error names a bad flag.
absl::StatusOr<fwd::v1::GetUsageRequest> buildUsageRequest(
    const Invocation& inv, std::chrono::system_clock::time_point now);

/// {"group_by", "rows": [{"group", "requests", "errors", "prompt_tokens", "completion_tokens",
/// "cached_tokens", "cost_usd", "cost_nano_usd", "unpriced_requests"}]}.
Json usageReportJson(const std::string& group_by, const fwd::v1::GetUsageResponse& usage);
/// A table with a column per figure, a first column named after the grouping (none without).
std::string usageReportText(const std::string& group_by, const fwd::v1::GetUsageResponse& usage);

/// The request `fwdctl logs` sends for `inv`, at `now`.
absl::StatusOr<fwd::v1::ListRecordsRequest> buildLogsRequest(
    const Invocation& inv, std::chrono::system_clock::time_point now);
/// {"records": [{"time", "id", "request_id", "node_id", "key", "client_ip", "method", "path",
/// "route", "model", "served_model", "upstream", "status", "error_code", "attempts", "stream",
/// "ttfb_ms", "latency_ms", "prompt_tokens", "completion_tokens", "cached_tokens",
/// "usage_estimated", "cost_nano_usd", "priced", "outcome"}]}.
Json logsJson(const fwd::v1::ListRecordsResponse& records);
/// TIME KEY MODEL UPSTREAM STATUS LATENCY TOKENS COST REQUEST_ID, newest first.
std::string logsText(const fwd::v1::ListRecordsResponse& records);

/// One record as `logs -o json` lists it, and as `logs export` and `logs --follow -o json`
/// write it, one per line.
Json recordJson(const fwd::v1::Record& r);
/// `logs export --format csv`: a header row of recordJson's keys, then a row per record
/// (RFC 4180: CRLF, cells with a comma, quote or line break quoted; failed attempts as
/// "upstream:reason:status;...").
std::string csvHeader();
std::string recordCsv(const fwd::v1::Record& r);
/// `logs --follow`: a line per record, the table's columns two spaces apart.
std::string recordLine(const fwd::v1::Record& r);

/// `logs --follow`: asks for `request` (ARRIVAL order), prints what comes, and asks again from
/// where it ended, every `every` unless the page was full; returns only when a call fails.
absl::Status followLogs(client::AdminApi* api, fwd::v1::ListRecordsRequest request,
                        OutputFormat format, std::chrono::milliseconds every, std::ostream& out);

}  // namespace fwd::cli::commands
