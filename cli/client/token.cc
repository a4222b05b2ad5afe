#include "cli/client/token.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "cli/client/error_kind.h"

namespace fwd::cli::client {
namespace {

std::string trimmed(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

}  // namespace

absl::StatusOr<std::string> resolveToken(const TokenSources& sources) {
  if (sources.flag.has_value()) {
    std::string token = trimmed(*sources.flag);
    if (token.empty()) {
      return usageError("--token is empty");
    }
    return token;
  }
  if (sources.env.has_value()) {
    std::string token = trimmed(*sources.env);
    if (!token.empty()) {
      return token;
    }
  }
  std::error_code ec;
  if (!std::filesystem::exists(sources.file, ec)) {
    return usageError(
        "no admin token: pass --token, set FWD_ADMIN_TOKEN, or run from the directory holding "
        "fwd-data/admin.token");
  }
  std::ifstream in(sources.file, std::ios::binary);
  if (!in) {
    return usageError("cannot read admin token file " + sources.file.string() + ": " +
                      std::strerror(errno));
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string token = trimmed(content.str());
  if (token.empty()) {
    return usageError("admin token file " + sources.file.string() + " is empty");
  }
  return token;
}

}  // namespace fwd::cli::client
