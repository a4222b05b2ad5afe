#include "tests/fakes/fake_azure.h"

#include <cctype>

namespace fwd::fakes {
namespace {

constexpr std::string_view kResourceNotFound =
    R"({"error":{"code":"404","message":"Resource not found"}})";
constexpr std::string_view kDeploymentNotFound =
    R"({"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource )"
    R"(does not exist. If you created the deployment within the last 5 minutes, please wait a )"
    R"(moment and try again."}})";
constexpr std::string_view kAccessDenied =
    R"({"error":{"code":"401","message":"Access denied due to invalid subscription key or )"
    R"(wrong API endpoint. Make sure to provide a valid key for an active subscription and use )"
    R"(a correct regional API endpoint for your resource."}})";
constexpr std::string_view kContentFiltered =
    R"({"error":{"message":"The response was filtered due to the prompt triggering Azure )"
    R"(OpenAI's content management policy. Please modify your prompt and retry.",)"
    R"("type":null,"param":"prompt","code":"content_filter","status":400,)"
    R"("innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":)"
    R"({"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,)"
    R"("severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},)"
    R"("violence":{"filtered":true,"severity":"high"}}}}})";

// The value of query parameter `name` of `target`; `found` says whether it is there.
std::string_view queryParam(std::string_view target, std::string_view name, bool& found) {
  found = false;
  size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return {};
  }
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.starts_with(name) && param.size() > name.size() && param[name.size()] == '=') {
      found = true;
      return param.substr(name.size() + 1);
    }
  }
  return {};
}

// "2024-10-21" or "2025-01-01-preview".
bool isDatedVersion(std::string_view v) {
  if (v.ends_with("-preview")) {
    v.remove_suffix(8);
  }
  if (v.size() != 10 || v[4] != '-' || v[7] != '-') {
    return false;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) {
      return false;
    }
  }
  return true;
}

AzureVerdict fail(int status, std::string_view body) {
  return AzureVerdict{status, std::string(body), ""};
}

}  // namespace

AzureVerdict azureGate(const AzureConfig& config, std::string_view target, std::string_view api_key,
                       std::string_view body_model, std::string_view body) {
  if (api_key.empty() || api_key != config.api_key) {
    return fail(401, kAccessDenied);
  }
  std::string_view path = target.substr(0, target.find('?'));
  bool has_version = false;
  std::string_view version = queryParam(target, "api-version", has_version);
  std::string deployment;
  if (path.starts_with("/openai/v1/")) {
    if (has_version && version != "preview" && version != "latest") {
      return fail(400, R"({"error":{"code":"BadRequest","message":"API version not supported"}})");
    }
    deployment = std::string(body_model);
  } else if (path.starts_with("/openai/")) {
    if (!has_version || !isDatedVersion(version)) {
      return fail(404, kResourceNotFound);
    }
    constexpr std::string_view kDeployments = "/openai/deployments/";
    if (!path.starts_with(kDeployments)) {
      return AzureVerdict{};  // /openai/models and the like: not per deployment
    }
    std::string_view rest = path.substr(kDeployments.size());
    deployment = std::string(rest.substr(0, rest.find('/')));
  } else {
    return fail(404, kResourceNotFound);
  }
  auto it = config.deployments.find(deployment);
  if (it == config.deployments.end()) {
    return fail(404, kDeploymentNotFound);
  }
  if (body.find("FILTER_ME") != std::string_view::npos) {
    return fail(400, kContentFiltered);
  }
  return AzureVerdict{0, "", it->second};
}

void appendAzureError(std::string& out, int status) {
  if (status == 429) {
    out += R"({"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation )"
           R"(under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your )"
           R"(current OpenAI S0 pricing tier. Please retry after 1 second."}})";
  } else if (status >= 500) {
    out += R"({"error":{"code":"InternalServerError","message":"The server had an error while )"
           R"(processing your request. Sorry about that!"}})";
  } else {
    out += R"({"error":{"code":")" + std::to_string(status) + R"(","message":"fake azure error )" +
           std::to_string(status) + R"("}})";
  }
}

void appendAzurePromptFilterEvent(std::string& out) {
  out += R"({"choices":[],"created":0,"id":"","model":"","object":"",)"
         R"("prompt_filter_results":[{"prompt_index":0,"content_filter_results":)"
         R"({"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,)"
         R"("severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},)"
         R"("violence":{"filtered":false,"severity":"safe"}}}]})";
}

}  // namespace fwd::fakes
