// The request edits and the answer prefix (fwd.v1.Edits) as fwdctl sets and shows them, shared
// by `upstream add|update` and `route add|update`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/config.pb.h"

namespace fwd::cli::commands {

/// --max-tokens-cap, --stop, --drop-empty-messages, --strip-think, --answer-prefix,
/// --stream-mode, and on update their --clear-… counterparts.
std::vector<FlagSpec> editsFlags(bool update);

/// The synopsis of editsFlags().
std::string editsSynopsis(bool update);

/// Copies the given edits flags into `*edits()` (called only when one is given) and records
/// each FieldMask path ("edits.<field>").
absl::Status applyEditsFlags(const FlagValues& flags, const std::function<fwd::v1::Edits&()>& edits,
                             std::vector<std::string>& paths);

/// The FieldMask paths of the edits, in field order.
const std::vector<std::string>& editsPaths();

/// One line: "max_tokens_cap 512, stop [\"END\"], strip_think" or "-" when nothing is set.
std::string editsCell(const fwd::v1::Edits& edits);

/// {"max_tokens_cap","stop","drop_empty_messages","strip_think","answer_prefix","stream_mode"},
/// each null (or [] for stop) when unset.
Json editsJson(const fwd::v1::Edits& edits);

}  // namespace fwd::cli::commands
