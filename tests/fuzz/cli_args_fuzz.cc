// Fuzzes fwdctl's command line: the input split at NUL bytes is the argument list. Parsing and
// preparing every command (which reads each flag's value: durations, numbers, patterns, URLs)
// must answer with a command or a usage error, never crash; nothing is sent anywhere.
#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands/parser.h"
#include "cli/commands/run.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<fwd::cli::commands::CommandSpec> commands =
      fwd::cli::commands::allCommands();
  std::vector<std::string> args;
  std::string current;
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) {
      args.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  args.push_back(std::move(current));
  (void)fwd::cli::commands::isHelpRequested(args);
  auto parsed = fwd::cli::commands::parseCommandLine(args, commands);
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(parsed->spec != nullptr);
  auto action = parsed->spec->prepare(parsed->invocation);
  if (!action.ok()) {
    FUZZ_CHECK(!action.status().message().empty());
  }
  return 0;
}
