// What `fwdctl key get` shows of a key's limits as the data planes count them now
// (GetKeyLimits): each window's count and reset, the requests in flight, each budget spent and
// left. Counted in Redis, every data plane reads the same fleet-wide counts and they are shown
// once; in memory, each data plane counts alone and is shown on its own.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

/// {"source": "redis"|"memory"|null, "nodes": [{"node_id", "error", "state"}]}; with Redis the
/// state is the same for every node that read it there. Errors of the call itself:
/// {"error": message}.
Json keyCountsJson(const absl::StatusOr<fwd::v1::GetKeyLimitsResponse>& counts);

/// The lines under "counts:" in `key get`; empty when no data plane has a limit to show.
std::string keyCountsText(const absl::StatusOr<fwd::v1::GetKeyLimitsResponse>& counts);

/// "41s", "12m30s", "5h12m", "25d3h": a countdown, to the second below a minute.
std::string countdown(std::int64_t ms);

/// Micro-USD as dollars, at least two decimals and no trailing zeros beyond: "$10.00",
/// "$0.000125".
std::string usdCell(std::uint64_t micros);

}  // namespace fwd::cli::commands
