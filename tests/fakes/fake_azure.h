// The fake upstream's Azure OpenAI mode (fake_upstream --azure): what Azure checks before it
// serves a request, and the shapes it answers errors and streams in, from Azure OpenAI's REST
// reference. No IO here.
//
// Paths: /openai/deployments/{deployment}/{operation}?api-version=V (classic: a known deployment
// and a dated api-version, "YYYY-MM-DD" or "YYYY-MM-DD-preview"), /openai/v1/{operation} (the v1
// API: the body's model names the deployment; api-version absent, "preview" or "latest"),
// /openai/models?api-version=V. Credential: the `api-key` field. A request whose body holds
// "FILTER_ME" trips the content filter. Answers report the deployment's model (as Azure does),
// and a stream opens with an event of prompt_filter_results and no choices.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace fwd::fakes {

struct AzureConfig {
  bool enabled = false;
  std::string api_key;                             // the key `api-key` must carry
  std::map<std::string, std::string> deployments;  // deployment -> the model it runs
};

/// What Azure makes of a request before serving it.
struct AzureVerdict {
  int status = 0;     // non-zero: answer this with `body` (an Azure error)
  std::string body;   // when status != 0
  std::string model;  // when served: the deployment's model, reported in the answer
};

/// Checks the request's credential, path, api-version and deployment (`body_model` is the
/// body's "model", for the v1 API) and the content filter.
AzureVerdict azureGate(const AzureConfig& config, std::string_view target, std::string_view api_key,
                       std::string_view body_model, std::string_view body);

/// Azure's body for an error `status` the fake was asked for (x-fake-status): 429 as its rate
/// limiter writes it, 5xx as its service does, others {"error":{"code":"<status>",...}}.
void appendAzureError(std::string& out, int status);

/// The first event of an Azure chat stream: no choices, the prompt's filter results.
void appendAzurePromptFilterEvent(std::string& out);

}  // namespace fwd::fakes
