// The rules a client request's path and header fields meet on their way upstream: which
// fields stay behind, which paths are refused. Pure functions of their input, shared by the
// proxy session, its tests and the request fuzz target.
#pragma once

#include <boost/beast/http/field.hpp>
#include <string_view>

namespace fwd::dataplane::proxy {

/// True for request headers that must not be forwarded upstream: hop-by-hop headers, the
/// client's credentials, headers fwd sets itself (Host, Content-Length, X-Forwarded-For, ...)
/// and the client's other claims about its address (Forwarded, X-Real-IP). Any case. Fields
/// the request's Connection header names are dropped too (ClientRequestParser).
bool isDroppedRequestHeader(std::string_view name);
/// The same, for a field Beast has already classified (no string compares for known names).
bool isDroppedRequestField(boost::beast::http::field name, std::string_view name_string);
/// False when a path has "." or ".." segments (also percent-encoded) that could climb out of
/// the upstream's base path.
bool isSafePath(std::string_view path);

}  // namespace fwd::dataplane::proxy
