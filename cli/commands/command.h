// What a fwdctl command is: its noun/verb, the flags it accepts, and a prepare step that turns
// a parsed command line into an action on the admin API. Preparing validates everything, so a
// usage error is reported before a token is looked up or a connection is made.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/client/admin_api.h"
#include "cli/client/admin_client.h"
#include "common/net/grpc_tls.h"
#include "google/protobuf/duration.pb.h"

namespace fwd::cli::commands {

enum class OutputFormat { kTable, kJson };

/// Flags that every command accepts, before or after the noun/verb.
struct GlobalOptions {
  std::string server = "127.0.0.1:7070";
  std::optional<std::string> token;
  OutputFormat output = OutputFormat::kTable;
  // Deadline of each admin call.
  std::chrono::milliseconds timeout = client::kDefaultCallTimeout;
  // --tls, --ca, --cert, --key, --insecure.
  common::net::ClientTls tls;
};

enum class FlagKind {
  // --name VALUE or --name=VALUE, at most once.
  kValue,
  // --name VALUE, any number of times; values kept in order.
  kRepeated,
  // --name (true) or --name=true|false; never consumes the next argument.
  kBool,
};

struct FlagSpec {
  std::string name;  // without the leading "--"
  FlagKind kind;
  std::string value_name;  // shown in help, e.g. "URL"; empty for kBool
  std::string help;
};

/// The command-specific flags given, by name. Bool flags hold "true" or "false".
class FlagValues {
 public:
  void add(const std::string& name, std::string value);
  bool has(const std::string& name) const;
  bool empty() const { return values_.empty(); }
  /// The single value of a kValue/kBool flag; nullopt when not given.
  std::optional<std::string> value(const std::string& name) const;
  /// Every value of a kRepeated flag, in command-line order; empty when not given.
  std::vector<std::string> values(const std::string& name) const;

  /// Typed accessors: nullopt when the flag is absent, a usage error naming the flag when the
  /// value does not parse.
  absl::StatusOr<std::optional<std::int32_t>> int32Value(const std::string& name) const;
  absl::StatusOr<std::optional<std::uint32_t>> uint32Value(const std::string& name) const;
  absl::StatusOr<std::optional<std::chrono::milliseconds>> durationValue(
      const std::string& name) const;
  std::optional<bool> boolValue(const std::string& name) const;
  /// A duration that must be more than 0, as a proto Duration: a usage error naming the flag
  /// when it does not parse or is not positive.
  absl::StatusOr<std::optional<google::protobuf::Duration>> positiveDurationValue(
      const std::string& name) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

/// A duration flag that sets one Duration field of message M, with its FieldMask path.
template <typename M>
struct DurationFlag {
  const char* flag;
  const char* path;
  google::protobuf::Duration* (M::*field)();
};

/// Copies each given duration flag (which must be positive) into the message `target()` returns
/// and records its path. `target` is called only for a given flag, so an absent message is
/// created only when something goes into it.
template <typename M, typename Target>
absl::Status applyDurationFlags(const FlagValues& flags,
                                std::initializer_list<DurationFlag<M>> specs, Target target,
                                std::vector<std::string>& paths) {
  for (const DurationFlag<M>& spec : specs) {
    auto d = flags.positiveDurationValue(spec.flag);
    if (!d.ok()) {
      return d.status();
    }
    if (d->has_value()) {
      M& message = target();
      *(message.*spec.field)() = **d;
      paths.push_back(spec.path);
    }
  }
  return absl::OkStatus();
}

/// One parsed command line.
struct Invocation {
  GlobalOptions global;
  std::string noun;
  std::string verb;               // empty for verb-less commands ("status")
  std::vector<std::string> args;  // positional arguments after noun and verb
  FlagValues flags;
};

/// The work left once the command line is validated: calls the API and prints to `out`.
/// `api` is null for commands that do not need the server (CommandSpec::needs_server).
using Action = std::function<absl::Status(client::AdminApi* api, std::ostream& out)>;

struct CommandSpec {
  std::string noun;
  std::string verb;        // empty for verb-less commands
  std::string positional;  // the required positional arguments ("NAME", "NAME VALUE"), or empty
  std::string synopsis;    // flags part of the usage line, e.g. "--base-url URL [--model P]..."
  std::string summary;
  std::vector<FlagSpec> flags;
  std::function<absl::StatusOr<Action>(const Invocation&)> prepare;
  // False for commands that never talk to the control plane ("version"): no token needed.
  bool needs_server = true;
};

/// "upstream add", "status".
std::string commandName(const CommandSpec& spec);

}  // namespace fwd::cli::commands
