// The fwdctl command line: global flags (--server, --token, -o/--output, --timeout) anywhere,
// then <noun> [<verb>] [NAME], with the command's own flags before or after NAME. A flag after
// the noun/verb is looked up in the command's flags first, so `upstream add --timeout 30s` sets
// the upstream's timeout while `fwdctl --timeout 30s upstream add ...` sets the call deadline.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/commands/command.h"

namespace fwd::cli::commands {

struct ParsedCommandLine {
  Invocation invocation;
  const CommandSpec* spec = nullptr;  // points into the `commands` passed to the parser
};

/// Every failure is a usage error (ErrorKind::kUsage) whose message names the offending
/// argument. --help/-h is not handled here (see isHelpRequested).
absl::StatusOr<ParsedCommandLine> parseCommandLine(const std::vector<std::string>& args,
                                                   const std::vector<CommandSpec>& commands);

/// True when --help or -h appears anywhere.
bool isHelpRequested(const std::vector<std::string>& args);

}  // namespace fwd::cli::commands
