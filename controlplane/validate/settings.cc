#include "controlplane/validate/settings.h"

#include <algorithm>
#include <cctype>

namespace fwd::controlplane::validate {
namespace {

struct BoolSetting {
  const char* name;
  const char* description;
  void (fwd::v1::Settings::*set)(bool);
};

const BoolSetting kBoolSettings[] = {
    {"errors_as_200",
     "answer every error with status 200 and the real status in x-fwd-status, for every key "
     "and before a key is known",
     &fwd::v1::Settings::set_errors_as_200},
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string names() {
  std::string out;
  for (const BoolSetting& s : kBoolSettings) {
    out += (out.empty() ? "" : ", ") + std::string(s.name);
  }
  return out;
}

}  // namespace

std::vector<fwd::v1::Setting> knownSettings() {
  std::vector<fwd::v1::Setting> out;
  for (const BoolSetting& s : kBoolSettings) {
    fwd::v1::Setting setting;
    setting.set_name(s.name);
    setting.set_default_value("false");
    setting.set_description(s.description);
    out.push_back(std::move(setting));
  }
  return out;
}

absl::StatusOr<std::string> checkSetting(std::string_view name, std::string_view value) {
  for (const BoolSetting& s : kBoolSettings) {
    if (name != s.name) {
      continue;
    }
    std::string v = lower(value);
    if (v != "true" && v != "false") {
      return absl::InvalidArgumentError("setting " + std::string(name) + ": \"" +
                                        std::string(value) + "\" is not true or false");
    }
    return v;
  }
  return absl::InvalidArgumentError("no setting named \"" + std::string(name) +
                                    "\"; the settings are: " + names());
}

void applySettings(const std::map<std::string, std::string>& stored, fwd::v1::Settings& out) {
  for (const BoolSetting& s : kBoolSettings) {
    auto it = stored.find(s.name);
    if (it != stored.end()) {
      (out.*s.set)(it->second == "true");
    }
  }
}

}  // namespace fwd::controlplane::validate
