#include "cli/commands/command.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "cli/client/error_kind.h"
#include "cli/commands/format.h"
#include "common/config/duration.h"

namespace fwd::cli::commands {
namespace {

absl::Status badValue(const std::string& name, const std::string& value, const std::string& why) {
  return client::usageError("invalid value \"" + value + "\" for --" + name + ": " + why);
}

}  // namespace

void FlagValues::add(const std::string& name, std::string value) {
  values_[name].push_back(std::move(value));
}

bool FlagValues::has(const std::string& name) const { return values_.contains(name); }

std::optional<std::string> FlagValues::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    return std::nullopt;
  }
  return it->second.back();
}

std::vector<std::string> FlagValues::values(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    return {};
  }
  return it->second;
}

absl::StatusOr<std::optional<std::int32_t>> FlagValues::int32Value(const std::string& name) const {
  std::optional<std::string> text = value(name);
  if (!text.has_value()) {
    return std::optional<std::int32_t>();
  }
  std::int32_t n = 0;
  if (!absl::SimpleAtoi(*text, &n) || text->find_first_of(" \t+") != std::string::npos) {
    return badValue(name, *text, "expected an integer");
  }
  return std::optional<std::int32_t>(n);
}

absl::StatusOr<std::optional<std::uint32_t>> FlagValues::uint32Value(
    const std::string& name) const {
  std::optional<std::string> text = value(name);
  if (!text.has_value()) {
    return std::optional<std::uint32_t>();
  }
  std::int64_t n = 0;
  if (!absl::SimpleAtoi(*text, &n) || text->find_first_of(" \t+") != std::string::npos || n < 0 ||
      n > std::numeric_limits<std::uint32_t>::max()) {
    return badValue(name, *text, "expected a non-negative integer");
  }
  return std::optional<std::uint32_t>(static_cast<std::uint32_t>(n));
}

absl::StatusOr<std::optional<std::chrono::milliseconds>> FlagValues::durationValue(
    const std::string& name) const {
  std::optional<std::string> text = value(name);
  if (!text.has_value()) {
    return std::optional<std::chrono::milliseconds>();
  }
  auto d = fwd::common::config::parseDuration(*text);
  if (!d.ok()) {
    return client::usageError("--" + name + ": " + std::string(d.status().message()));
  }
  return std::optional<std::chrono::milliseconds>(*d);
}

absl::StatusOr<std::optional<google::protobuf::Duration>> FlagValues::positiveDurationValue(
    const std::string& name) const {
  auto d = durationValue(name);
  if (!d.ok()) {
    return d.status();
  }
  if (!d->has_value()) {
    return std::optional<google::protobuf::Duration>();
  }
  if ((*d)->count() <= 0) {
    return client::usageError("--" + name + " must be positive");
  }
  return std::optional<google::protobuf::Duration>(toProtoDuration(**d));
}

std::optional<bool> FlagValues::boolValue(const std::string& name) const {
  std::optional<std::string> text = value(name);
  if (!text.has_value()) {
    return std::nullopt;
  }
  return *text == "true";
}

std::string commandName(const CommandSpec& spec) {
  return spec.verb.empty() ? spec.noun : spec.noun + " " + spec.verb;
}

}  // namespace fwd::cli::commands
