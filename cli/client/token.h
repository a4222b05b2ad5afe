// Finding the admin token fwdctl sends: --token, else $FWD_ADMIN_TOKEN, else the file the control
// plane writes at ./fwd-data/admin.token. Sources are passed in, so tests need no chdir/setenv.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace fwd::cli::client {

inline constexpr char kTokenEnvVar[] = "FWD_ADMIN_TOKEN";
inline constexpr char kDefaultTokenFile[] = "fwd-data/admin.token";

struct TokenSources {
  // --token, if given.
  std::optional<std::string> flag;
  // $FWD_ADMIN_TOKEN, if set. An empty value counts as unset.
  std::optional<std::string> env;
  // Read only when neither of the above is available; relative to the working directory.
  std::filesystem::path file = kDefaultTokenFile;
};

/// The first available source wins, with surrounding whitespace trimmed. Every failure is a
/// usage error (ErrorKind::kUsage) that tells the operator what to do.
absl::StatusOr<std::string> resolveToken(const TokenSources& sources);

}  // namespace fwd::cli::client
