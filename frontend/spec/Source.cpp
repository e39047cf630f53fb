#include "frontend/spec/Source.h"

#include <algorithm>

namespace mixc::spec {

std::string renderError(const SourceFile &src, Loc loc, const std::string &msg) {
  const std::string &t = src.text;
  size_t off = std::min(loc.offset, t.size());
  size_t lineStart = off == 0 ? std::string::npos : t.rfind('\n', off - 1);
  lineStart = lineStart == std::string::npos ? 0 : lineStart + 1;
  if (off > 0 && off == t.size() && t[off - 1] == '\n') {
    // An error at end of file after a final newline points at the last line's end.
    lineStart = t.rfind('\n', off >= 2 ? off - 2 : 0);
    lineStart = (lineStart == std::string::npos || off < 2) ? 0 : lineStart + 1;
    off = t.size() - 1;
  }
  size_t line = 1 + std::count(t.begin(), t.begin() + lineStart, '\n');
  size_t col = off - lineStart + 1;
  size_t lineEnd = t.find('\n', lineStart);
  if (lineEnd == std::string::npos) lineEnd = t.size();
  std::string text = t.substr(lineStart, lineEnd - lineStart);
  // Keep the echoed line printable: control and non-ASCII bytes become '?'.
  for (char &c : text)
    if ((unsigned char)c < 0x20 && c != '\t') c = '?';
    else if ((unsigned char)c >= 0x7f) c = '?';
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  std::string caret(std::min<size_t>(col - 1, 200), ' ');
  for (size_t i = 0; i < caret.size() && i < text.size(); ++i)
    if (text[i] == '\t') caret[i] = '\t';
  size_t len = std::max<size_t>(1, std::min<size_t>(loc.length, lineEnd > off ? lineEnd - off : 1));
  caret += '^';
  if (len > 1) caret += std::string(std::min<size_t>(len - 1, 80), '~');
  return src.name + ":" + std::to_string(line) + ":" + std::to_string(col) + ": error: " + msg +
         "\n" + text + "\n" + caret + "\n";
}

} // namespace mixc::spec
