// The limits of a key (fwd.v1.Limits) as fwdctl sets and shows them: `key create|update` take
// them, and `settings set default_*` takes the same values for every key that sets none.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/config.pb.h"

namespace fwd::cli::commands {

/// --rate, --rate-strategy, --max-parallel, --tpm, --tokens, and for a key (`per_key`)
/// --budget-usd, --budget-tokens, --redis-down; on update their --clear-… counterparts.
std::vector<FlagSpec> limitsFlags(bool update, bool per_key = true);

/// The synopsis of limitsFlags().
std::string limitsSynopsis(bool update, bool per_key = true);

/// Copies the given limits flags into `*limits()` (called only when one is given) and records
/// each FieldMask path ("limits.<field>"). A rate or strategy that does not parse is a usage
/// error naming what is wrong.
absl::Status applyLimitsFlags(const FlagValues& flags,
                              const std::function<fwd::v1::Limits&()>& limits,
                              std::vector<std::string>& paths);

/// One line: "rate 60/minute;600/hour (sliding-window), max_parallel 4" or "-" when none.
std::string limitsCell(const fwd::v1::Limits& limits);

/// {"rate","rate_strategy","max_parallel","tpm","tokens","budget_usd","budget_tokens",
/// "redis_down"}, each null when unset.
/// A route's (`per_key` false) leaves out the budgets and redis_down.
Json limitsJson(const fwd::v1::Limits& limits, bool per_key = true);

}  // namespace fwd::cli::commands
