#include "cli/commands/run.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "cli/client/error_kind.h"
#include "cli/commands/format.h"
#include "cli/commands/ip.h"
#include "cli/commands/key.h"
#include "cli/commands/notify.h"
#include "cli/commands/parser.h"
#include "cli/commands/price.h"
#include "cli/commands/records.h"
#include "cli/commands/route.h"
#include "cli/commands/settings.h"
#include "cli/commands/status.h"
#include "cli/commands/upstream.h"
#include "common/net/grpc_tls.h"

#ifndef FWD_VERSION
#define FWD_VERSION "unknown"
#endif

namespace fwd::cli::commands {
namespace {

constexpr char kGlobalFlagsHelp[] =
    "Global flags (before or after the command):\n"
    "  --server HOST:PORT   control plane gRPC address (default 127.0.0.1:7070)\n"
    "  --token TOKEN        admin token (default: $FWD_ADMIN_TOKEN, else ./fwd-data/admin.token)\n"
    "  -o, --output FORMAT  table (default) or json\n"
    "  --timeout DURATION   deadline of each call, e.g. 500ms, 30s, 2m (default 10s); after\n"
    "                       \"upstream|route add|update\" --timeout is the upstream's or\n"
    "                       route's own timeout\n"
    "  --ca FILE            TLS to the control plane, trusting this CA (PEM)\n"
    "  --tls                TLS to the control plane, trusting the system's CA store\n"
    "  --cert FILE --key FILE  client certificate and key, for a control plane that requires\n"
    "                       mTLS (--client-ca)\n"
    "  --insecure           allow plaintext to a control plane that is not on loopback (the\n"
    "                       admin token would cross the network unencrypted)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit codes: 0 ok, 1 error from the server, 2 usage or local setup error, 3 control plane\n"
    "unreachable.\n";

absl::StatusOr<Action> prepareVersion(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi*, std::ostream& out) -> absl::Status {
    if (format == OutputFormat::kJson) {
      writeJson(out, Json{{"version", FWD_VERSION}});
    } else {
      out << "fwdctl " << FWD_VERSION << "\n";
    }
    return absl::OkStatus();
  });
}

// Wraps a usage line at word boundaries, continuation lines indented under the command.
std::string wrapped(const std::string& text, size_t indent) {
  constexpr size_t kWidth = 96;
  std::string out;
  std::string line;
  for (const std::string& word :
       std::vector<std::string>(absl::StrSplit(text, ' ', absl::SkipEmpty()))) {
    if (!line.empty() && line.size() + 1 + word.size() > kWidth) {
      out += line + "\n";
      line = std::string(indent, ' ');
    } else if (!line.empty()) {
      line += ' ';
    }
    line += word;
  }
  return out + line + "\n";
}

std::string commandLines(const std::vector<CommandSpec>& commands, const std::string& noun) {
  std::string out;
  for (const CommandSpec& c : commands) {
    if (!noun.empty() && c.noun != noun) {
      continue;
    }
    std::string line = "  fwdctl " + commandName(c);
    if (!c.positional.empty()) {
      line += " " + c.positional;
    }
    if (!c.synopsis.empty()) {
      line += " " + c.synopsis;
    }
    out += wrapped(line, 10) + "      " + c.summary + "\n";
  }
  return out;
}

std::string flagLines(const std::vector<CommandSpec>& commands, const std::string& noun) {
  std::vector<std::pair<std::string, std::string>> flags;
  size_t width = 0;
  for (const CommandSpec& c : commands) {
    if (c.noun != noun) {
      continue;
    }
    for (const FlagSpec& f : c.flags) {
      std::string shown = "--" + f.name + (f.value_name.empty() ? "" : " " + f.value_name);
      bool seen =
          std::any_of(flags.begin(), flags.end(), [&](const auto& s) { return s.first == shown; });
      if (!seen) {
        flags.emplace_back(shown, f.help);
        width = std::max(width, shown.size());
      }
    }
  }
  if (flags.empty()) {
    return "";
  }
  std::string out = "Flags:\n";
  for (const auto& [shown, help] : flags) {
    out += "  " + shown + std::string(width - shown.size() + 2, ' ') + help + "\n";
  }
  return out;
}

bool isNoun(const std::vector<CommandSpec>& commands, const std::string& word) {
  return std::any_of(commands.begin(), commands.end(),
                     [&](const CommandSpec& c) { return c.noun == word; });
}

}  // namespace

std::vector<CommandSpec> allCommands() {
  std::vector<CommandSpec> all;
  for (auto part :
       {upstreamCommands(), routeCommands(), keyCommands(), ipCommands(), priceCommands(),
        settingsCommands(), statusCommands(), recordsCommands(), notifyCommands()}) {
    all.insert(all.end(), part.begin(), part.end());
  }
  CommandSpec version{"version", "", "", "", "print fwdctl's version", {}, prepareVersion};
  version.needs_server = false;
  all.push_back(std::move(version));
  return all;
}

std::string usageText(const std::vector<CommandSpec>& commands, const std::string& noun) {
  std::string out = "fwdctl: operate the fwd control plane\n\nUsage:\n";
  if (isNoun(commands, noun)) {
    out += commandLines(commands, noun);
    std::string flags = flagLines(commands, noun);
    if (!flags.empty()) {
      out += "\n" + flags;
    }
  } else {
    out += "  fwdctl [global flags] <noun> <verb> [NAME] [flags]\n\nCommands:\n";
    out += commandLines(commands, "");
  }
  return out + "\n" + kGlobalFlagsHelp;
}

int exitCodeFor(const absl::Status& status) {
  if (status.ok()) {
    return kExitOk;
  }
  switch (client::errorKind(status)) {
    case client::ErrorKind::kUsage:
      return kExitUsage;
    case client::ErrorKind::kUnreachable:
      return kExitUnreachable;
    case client::ErrorKind::kServer:
      return kExitServerError;
  }
  return kExitServerError;
}

std::string errorMessage(const absl::Status& status) {
  std::string message(status.message());
  if (client::errorKind(status) != client::ErrorKind::kServer) {
    return message;
  }
  std::string code = absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
  code = absl::StrReplaceAll(code, {{"_", " "}});
  if (message.empty()) {
    return code;
  }
  return code + ": " + message;
}

int run(const std::vector<std::string>& args, const Environment& env) {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;
  const std::vector<CommandSpec> commands = allCommands();

  if (isHelpRequested(args)) {
    auto noun = std::find_if(args.begin(), args.end(),
                             [&](const std::string& a) { return isNoun(commands, a); });
    out << usageText(commands, noun == args.end() ? "" : *noun);
    return kExitOk;
  }
  if (args.empty()) {
    err << usageText(commands, "");
    return kExitUsage;
  }

  auto fail = [&](const absl::Status& status) {
    std::string message = errorMessage(status);
    std::replace(message.begin(), message.end(), '\n', ' ');
    err << "fwdctl: " << message << "\n";
    return exitCodeFor(status);
  };

  auto parsed = parseCommandLine(args, commands);
  if (!parsed.ok()) {
    return fail(parsed.status());
  }
  const Invocation& inv = parsed->invocation;
  auto action = parsed->spec->prepare(inv);
  if (!action.ok()) {
    return fail(action.status());
  }

  client::AdminApiPtr api;
  if (parsed->spec->needs_server) {
    auto token = client::resolveToken({inv.global.token, env.token_env, env.token_file});
    if (!token.ok()) {
      return fail(token.status());
    }
    auto credentials = common::net::channelCredentials(inv.global.tls, inv.global.server);
    if (!credentials.ok()) {
      return fail(client::usageError("--server " + inv.global.server + ": " +
                                     std::string(credentials.status().message()) +
                                     " (--ca FILE, or --insecure)"));
    }
    api = env.connect({inv.global.server, *token, inv.global.timeout, *credentials});
  }
  absl::Status status = (*action)(api.get(), out);
  if (!status.ok()) {
    return fail(status);
  }
  out.flush();
  return kExitOk;
}

}  // namespace fwd::cli::commands
