#include "cli/client/error_kind.h"

#include "absl/strings/cord.h"

namespace fwd::cli::client {
namespace {

constexpr char kKindPayload[] = "type.fwd.dev/fwd.cli.ErrorKind";
constexpr char kUsage[] = "usage";
constexpr char kUnreachable[] = "unreachable";

absl::Status withKind(absl::Status status, const char* kind) {
  status.SetPayload(kKindPayload, absl::Cord(kind));
  return status;
}

}  // namespace

absl::Status usageError(std::string message) {
  return withKind(absl::InvalidArgumentError(message), kUsage);
}

absl::Status unreachableError(const std::string& server, const std::string& detail) {
  return withKind(
      absl::UnavailableError("cannot reach the control plane at " + server + ": " + detail),
      kUnreachable);
}

ErrorKind errorKind(const absl::Status& status) {
  auto kind = status.GetPayload(kKindPayload);
  if (!kind.has_value()) {
    return ErrorKind::kServer;
  }
  if (*kind == kUsage) {
    return ErrorKind::kUsage;
  }
  if (*kind == kUnreachable) {
    return ErrorKind::kUnreachable;
  }
  return ErrorKind::kServer;
}

}  // namespace fwd::cli::client
