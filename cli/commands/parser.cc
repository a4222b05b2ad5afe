#include "cli/commands/parser.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_join.h"
#include "cli/client/error_kind.h"
#include "common/config/duration.h"
#include "common/net/host_port.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;

const FlagSpec* findFlag(const std::vector<FlagSpec>& flags, const std::string& name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) {
      return &flag;
    }
  }
  return nullptr;
}

std::vector<std::string> nouns(const std::vector<CommandSpec>& commands) {
  std::vector<std::string> out;
  for (const CommandSpec& c : commands) {
    if (std::find(out.begin(), out.end(), c.noun) == out.end()) {
      out.push_back(c.noun);
    }
  }
  return out;
}

std::vector<std::string> verbs(const std::vector<CommandSpec>& commands, const std::string& noun) {
  std::vector<std::string> out;
  for (const CommandSpec& c : commands) {
    if (c.noun == noun && !c.verb.empty()) {
      out.push_back(c.verb);
    }
  }
  return out;
}

class Parser {
 public:
  Parser(const std::vector<std::string>& args, const std::vector<CommandSpec>& commands)
      : args_(args), commands_(commands) {}

  absl::StatusOr<ParsedCommandLine> parse() {
    bool only_positionals = false;
    for (i_ = 0; i_ < args_.size(); ++i_) {
      const std::string& arg = args_[i_];
      absl::Status status;
      if (!only_positionals && arg == "--") {
        only_positionals = true;
        continue;
      }
      if (!only_positionals && arg.size() > 1 && arg[0] == '-') {
        status = flag(arg);
      } else {
        status = positional(arg);
      }
      if (!status.ok()) {
        return status;
      }
    }
    if (result_.invocation.noun.empty()) {
      return usageError("missing command (expected one of " +
                        absl::StrJoin(nouns(commands_), ", ") + "; see fwdctl --help)");
    }
    if (result_.spec == nullptr) {
      const std::string& noun = result_.invocation.noun;
      return usageError("missing verb for \"" + noun + "\" (expected one of " +
                        absl::StrJoin(verbs(commands_, noun), ", ") + ")");
    }
    const CommandSpec& spec = *result_.spec;
    if (result_.invocation.args.size() < positionalCount(spec)) {
      return usageError("missing " + spec.positional + ": usage: fwdctl " + commandName(spec) +
                        " " + spec.positional + (spec.synopsis.empty() ? "" : " ") + spec.synopsis);
    }
    return std::move(result_);
  }

 private:
  // "NAME" takes one argument, "NAME VALUE" two.
  static size_t positionalCount(const CommandSpec& spec) {
    if (spec.positional.empty()) {
      return 0;
    }
    return 1 + static_cast<size_t>(std::count(spec.positional.begin(), spec.positional.end(), ' '));
  }

  absl::Status positional(const std::string& arg) {
    Invocation& inv = result_.invocation;
    if (inv.noun.empty()) {
      bool known = false;
      for (const CommandSpec& c : commands_) {
        if (c.noun != arg) {
          continue;
        }
        known = true;
        if (c.verb.empty()) {
          result_.spec = &c;
        }
      }
      if (!known) {
        return usageError("unknown command \"" + arg + "\" (expected one of " +
                          absl::StrJoin(nouns(commands_), ", ") + ")");
      }
      inv.noun = arg;
      return absl::OkStatus();
    }
    // "logs export": a noun that is a command by itself ("logs") and has verbs too takes the
    // verb as long as nothing followed the noun yet.
    const bool verb_may_follow = result_.spec != nullptr && result_.spec->verb.empty() &&
                                 inv.verb.empty() && inv.args.empty() && inv.flags.empty();
    if (verb_may_follow) {
      for (const CommandSpec& c : commands_) {
        if (c.noun == inv.noun && c.verb == arg) {
          result_.spec = &c;
          inv.verb = arg;
          return absl::OkStatus();
        }
      }
    }
    if (result_.spec == nullptr) {
      for (const CommandSpec& c : commands_) {
        if (c.noun == inv.noun && c.verb == arg) {
          result_.spec = &c;
        }
      }
      if (result_.spec == nullptr) {
        return usageError("unknown verb \"" + arg + "\" for \"" + inv.noun +
                          "\" (expected one of " + absl::StrJoin(verbs(commands_, inv.noun), ", ") +
                          ")");
      }
      inv.verb = arg;
      return absl::OkStatus();
    }
    size_t allowed = positionalCount(*result_.spec);
    if (inv.args.size() >= allowed) {
      return usageError("unexpected argument \"" + arg + "\" for \"" + commandName(*result_.spec) +
                        "\"");
    }
    inv.args.push_back(arg);
    return absl::OkStatus();
  }

  absl::Status flag(const std::string& arg) {
    std::string body;
    std::string shown;
    if (arg.rfind("--", 0) == 0) {
      body = arg.substr(2);
    } else if (arg == "-o" || arg.rfind("-o=", 0) == 0) {
      body = "output" + arg.substr(2);
    } else {
      return unknownFlag(arg);
    }
    std::optional<std::string> inline_value;
    size_t eq = body.find('=');
    if (eq != std::string::npos) {
      inline_value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    shown = arg.rfind("--", 0) == 0 ? "--" + body : "-o";

    if (result_.spec != nullptr) {
      if (const FlagSpec* spec = findFlag(result_.spec->flags, body)) {
        return commandFlag(*spec, shown, inline_value);
      }
    }
    if (body == "server" || body == "token" || body == "output" || body == "timeout" ||
        body == "ca" || body == "cert" || body == "key") {
      return globalFlag(body, shown, inline_value);
    }
    if (body == "tls" || body == "insecure") {
      return globalSwitch(body, shown, inline_value);
    }
    return unknownFlag("--" + body);
  }

  absl::Status unknownFlag(const std::string& shown) {
    if (result_.spec != nullptr) {
      return usageError("unknown flag " + shown + " for \"" + commandName(*result_.spec) +
                        "\" (see fwdctl " + result_.spec->noun + " --help)");
    }
    return usageError("unknown flag " + shown + " (see fwdctl --help)");
  }

  absl::StatusOr<std::string> takeValue(const std::string& shown,
                                        const std::optional<std::string>& inline_value) {
    if (inline_value.has_value()) {
      return *inline_value;
    }
    if (i_ + 1 >= args_.size()) {
      return usageError("flag " + shown + " needs a value");
    }
    return args_[++i_];
  }

  absl::Status commandFlag(const FlagSpec& spec, const std::string& shown,
                           const std::optional<std::string>& inline_value) {
    FlagValues& flags = result_.invocation.flags;
    if (spec.kind != FlagKind::kRepeated && flags.has(spec.name)) {
      return usageError("flag " + shown + " given more than once");
    }
    if (spec.kind == FlagKind::kBool) {
      std::string value = inline_value.value_or("true");
      if (value != "true" && value != "false") {
        return usageError("invalid value \"" + value + "\" for " + shown +
                          ": expected true or false");
      }
      flags.add(spec.name, value);
      return absl::OkStatus();
    }
    auto value = takeValue(shown, inline_value);
    if (!value.ok()) {
      return value.status();
    }
    flags.add(spec.name, *value);
    return absl::OkStatus();
  }

  absl::Status globalFlag(const std::string& name, const std::string& shown,
                          const std::optional<std::string>& inline_value) {
    if (!seen_globals_.insert(name).second) {
      return usageError("flag " + shown + " given more than once");
    }
    auto value = takeValue(shown, inline_value);
    if (!value.ok()) {
      return value.status();
    }
    GlobalOptions& global = result_.invocation.global;
    if (name == "server") {
      auto hp = fwd::common::net::parseHostPort(*value);
      if (!hp.ok()) {
        return usageError("invalid value \"" + *value +
                          "\" for --server: " + std::string(hp.status().message()));
      }
      global.server = *value;
    } else if (name == "token") {
      global.token = *value;
    } else if (name == "output") {
      if (*value == "table") {
        global.output = OutputFormat::kTable;
      } else if (*value == "json") {
        global.output = OutputFormat::kJson;
      } else {
        return usageError("invalid value \"" + *value + "\" for " + shown +
                          ": expected table or json");
      }
    } else if (name == "ca") {
      global.tls.ca_file = *value;
    } else if (name == "cert") {
      global.tls.cert_file = *value;
    } else if (name == "key") {
      global.tls.key_file = *value;
    } else if (name == "timeout") {
      auto d = fwd::common::config::parseDuration(*value);
      if (!d.ok()) {
        return usageError("--timeout: " + std::string(d.status().message()));
      }
      if (d->count() <= 0) {
        return usageError("--timeout must be positive");
      }
      global.timeout = *d;
    }
    return absl::OkStatus();
  }

  // --tls and --insecure: no value, or =true / =false; never the next argument.
  absl::Status globalSwitch(const std::string& name, const std::string& shown,
                            const std::optional<std::string>& inline_value) {
    if (!seen_globals_.insert(name).second) {
      return usageError("flag " + shown + " given more than once");
    }
    bool on = true;
    if (inline_value.has_value()) {
      if (*inline_value != "true" && *inline_value != "false") {
        return usageError("invalid value \"" + *inline_value + "\" for " + shown +
                          ": expected true or false");
      }
      on = *inline_value == "true";
    }
    GlobalOptions& global = result_.invocation.global;
    (name == "tls" ? global.tls.tls : global.tls.allow_plaintext) = on;
    return absl::OkStatus();
  }

  const std::vector<std::string>& args_;
  const std::vector<CommandSpec>& commands_;
  size_t i_ = 0;
  std::set<std::string> seen_globals_;
  ParsedCommandLine result_;
};

}  // namespace

absl::StatusOr<ParsedCommandLine> parseCommandLine(const std::vector<std::string>& args,
                                                   const std::vector<CommandSpec>& commands) {
  return Parser(args, commands).parse();
}

bool isHelpRequested(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--") {
      return false;
    }
    if (arg == "--help" || arg == "-h") {
      return true;
    }
  }
  return false;
}

}  // namespace fwd::cli::commands
