// SPDX-License-Identifier: Apache-2.0
// Typed, located errors. The bindings translate ValueError/TypeError/RuntimeError to the Python
// exceptions of the same names (the RAFT_EXPECTS / Open3D LogError idea: C++ callers get the same
// checks as Python callers).
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace ef {

struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A request that would not fit in memory, refused before allocating (maps to MemoryError).
struct MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown when a progress callback asked the solver to stop, or raised.
struct Cancelled : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
// Message building without iostreams: a C++ runtime older than the one the extension was compiled
// against (loaded first by the host process) can leave the iostream/locale machinery
// uninitialised, and then the first error message would crash instead of raising.
inline void append(std::string&) {}
inline void put(std::string& s, const std::string& v) { s += v; }
inline void put(std::string& s, const char* v) { s += v ? v : "(null)"; }
inline void put(std::string& s, char v) { s += v; }
inline void put(std::string& s, bool v) { s += v ? "true" : "false"; }
template <class T>
typename std::enable_if<std::is_integral<T>::value>::type put(std::string& s, T v) {
  s += std::to_string(v);
}
template <class T>
typename std::enable_if<std::is_floating_point<T>::value>::type put(std::string& s, T v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", (double)v);
  s += buf;
}
template <class T, class... Rest>
void append(std::string& s, const T& v, const Rest&... rest) {
  put(s, v);
  append(s, rest...);
}
template <class... Args>
std::string concat(const Args&... args) {
  std::string s;
  append(s, args...);
  return s;
}
}  // namespace detail

}  // namespace ef

// EF_CHECK(cond, "msg", value, ...) throws ef::ValueError; the *_TYPE / *_RT variants pick the class.
#define EF_CHECK(cond, ...)                                               \
  do {                                                                    \
    if (!(cond)) throw ::ef::ValueError(::ef::detail::concat(__VA_ARGS__)); \
  } while (0)
#define EF_CHECK_TYPE(cond, ...)                                         \
  do {                                                                   \
    if (!(cond)) throw ::ef::TypeError(::ef::detail::concat(__VA_ARGS__)); \
  } while (0)
#define EF_FAIL(...)                                                                    \
  throw ::ef::RuntimeError(::ef::detail::concat(__FILE__, ":", __LINE__, ": ", __VA_ARGS__))
