// The settings that apply to every request (fwd.v1.Settings), as the admin API and fwdctl name
// them: which exist, what values they take, their defaults, and how stored name/value pairs
// become the snapshot's Settings message. Adding a setting is one entry here and one field there.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fwd/v1/admin.pb.h"
#include "fwd/v1/config.pb.h"

namespace fwd::controlplane::validate {

/// Every setting with its default and description, by name; values are empty.
std::vector<fwd::v1::Setting> knownSettings();

/// INVALID_ARGUMENT for a name that is not a setting (listing those that are) or a value it
/// does not take. Returns the value as stored ("true"/"false" for booleans, any case given).
absl::StatusOr<std::string> checkSetting(std::string_view name, std::string_view value);

/// The stored value as fwdctl shows and logs show it: a Redis URL's password is "***".
std::string displaySetting(std::string_view name, const std::string& stored);

/// Fills `out` from the stored pairs; unknown names (from a newer build) are ignored.
void applySettings(const std::map<std::string, std::string>& stored, fwd::v1::Settings& out);

}  // namespace fwd::controlplane::validate
