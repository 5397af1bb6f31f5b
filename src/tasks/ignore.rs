//! `.dockerignore` rules, read and matched as Docker reads and matches them (moby/patternmatcher,
//! BuildKit's context walker), so a context Berth packs or prunes holds what `docker build` sends.
//! Patterns are Go `filepath.Match` globs plus `**`; the last matching line wins, a pattern that
//! matches a directory matches everything under it, and `!` lines are exceptions that bring
//! paths back.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(".dockerignore line {line}: {pattern:?} is not a valid pattern")]
    BadPattern { line: usize, pattern: String },
}

/// The characters that make an exception a glob in BuildKit's eyes: such an exception might match
/// under any directory, so no excluded directory can be skipped without a look.
const GLOB_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

/// A `.dockerignore`'s patterns, in file order.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

impl Rules {
    /// Parses a `.dockerignore`. A malformed pattern (an unterminated `[`, a trailing `\`, a lone
    /// `!`) is an error naming its line, as Docker refuses the build for it.
    pub fn parse(text: &str) -> Result<Rules, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, line) in text.lines().enumerate() {
            // Only a `#` in the very first column starts a comment: Docker tests before trimming.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, glob) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = Pattern::new(glob, exception)
                .ok_or_else(|| Error::BadPattern { line: index + 1, pattern: line.to_owned() })?;
            patterns.push(pattern);
        }
        Ok(Rules { patterns })
    }

    /// Berth's (and ACR's) default: `.git` is left out unless the file brings it back, e.g. with
    /// `!.git/**`. It goes first so that any line of the file overrides it.
    pub fn with_git_excluded(mut self) -> Rules {
        let git = Pattern { text: ".git".to_owned(), exception: false, matcher: Matcher::Exact };
        self.patterns.insert(0, git);
        self
    }

    /// Whether the context-relative `path` (clean, forward slashes, no leading `./`) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for pattern in &self.patterns {
            // Only a pattern that could flip the verdict is worth matching.
            if pattern.exception == excluded && pattern.matches_or_parent(path) {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether the excluded directory `dir` must still be walked because an exception may bring
    /// back something under it: one naming a path inside it, or any exception with a glob.
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let inside = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exception)
            .map(|p| p.without_trailing_glob())
            .any(|text| text.contains(GLOB_CHARS) || format!("{text}/").starts_with(&inside))
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without its `!`.
    text: String,
    exception: bool,
    matcher: Matcher,
}

/// How a pattern matches; the first three are patternmatcher's shortcuts for patterns whose only
/// wildcard is a leading or trailing `**`, kept because they match differently from the glob
/// (`**foo` as a suffix matches `barfoo`).
#[derive(Debug, Clone)]
enum Matcher {
    Exact,
    Prefix(String),
    Suffix(String),
    Glob(Vec<Token>),
}

/// One piece of a compiled glob; each is one piece of the regular expression patternmatcher builds.
#[derive(Debug, Clone)]
enum Token {
    Char(char),
    /// `?`: one character other than `/`.
    OneChar,
    /// `*`: any run of characters other than `/`.
    AnyName,
    /// `**/` inside a pattern, the regex `(.*/)?`: nothing, or anything ending in `/`.
    Dirs,
    /// `**` ending a pattern, the regex `.*`.
    Rest,
    Class(Class),
}

#[derive(Debug, Clone)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Pattern {
    /// `None` for a malformed glob, or an empty one (what a lone `!` leaves).
    fn new(glob: &str, exception: bool) -> Option<Pattern> {
        if glob.is_empty() {
            return None;
        }
        let cleaned = clean(glob);
        let text = match cleaned.strip_prefix('/') {
            Some(relative) if !relative.is_empty() => relative.to_owned(),
            _ => cleaned,
        };
        let matcher = compile(&text)?;
        Some(Pattern { text, exception, matcher })
    }

    /// moby's `MatchesOrParentMatches`: the path itself or one of its parent directories matches.
    fn matches_or_parent(&self, path: &str) -> bool {
        self.matches(path) || path.match_indices('/').any(|(end, _)| self.matches(&path[..end]))
    }

    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Glob(tokens) => glob_matches(tokens, path),
        }
    }

    /// The pattern without a trailing `/**` or `/*`, as BuildKit compares exceptions to directories.
    fn without_trailing_glob(&self) -> &str {
        let text = self.text.strip_suffix("/**").unwrap_or(&self.text);
        text.strip_suffix("/*").unwrap_or(text)
    }
}

/// Go's `filepath.Clean`: single slashes, no `.`, `..` folded into its parent where there is one.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

fn peek(chars: &std::str::Chars<'_>) -> Option<char> {
    chars.clone().next()
}

/// Compiles a cleaned pattern the way patternmatcher does, shortcuts included; `None` where Go's
/// `filepath.Match` would call the pattern malformed.
fn compile(text: &str) -> Option<Matcher> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let mut kind = Kind::Exact;
    let mut tokens = Vec::new();
    let mut chars = text.chars();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if peek(&chars) == Some('*') => {
                chars.next();
                if peek(&chars) == Some('/') {
                    chars.next();
                }
                if peek(&chars).is_some() {
                    tokens.push(Token::Dirs);
                    kind = Kind::Glob;
                } else if kind == Kind::Exact {
                    kind = Kind::Prefix;
                } else {
                    tokens.push(Token::Rest);
                    kind = Kind::Glob;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' | '?' | '\\' | '[' | ']' => {
                tokens.push(match c {
                    '*' => Token::AnyName,
                    '?' => Token::OneChar,
                    '\\' => Token::Char(chars.next()?),
                    '[' => Token::Class(parse_class(&mut chars)?),
                    _ => Token::Char(c),
                });
                kind = Kind::Glob;
            }
            _ => tokens.push(Token::Char(c)),
        }
        first = false;
    }
    Some(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix(text[..text.len() - 2].to_owned()),
        Kind::Suffix => Matcher::Suffix(text[2..].to_owned()),
        Kind::Glob => Matcher::Glob(tokens),
    })
}

/// A character class after its `[`, with Go's rules: optional `^`, at least one character or
/// range, `\` escapes, and no bare `-` or `]` where a character is due.
fn parse_class(chars: &mut std::str::Chars<'_>) -> Option<Class> {
    let negated = peek(chars) == Some('^');
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    loop {
        if peek(chars)? == ']' && !ranges.is_empty() {
            chars.next();
            return Some(Class { negated, ranges });
        }
        let low = class_char(chars)?;
        let high = if peek(chars) == Some('-') {
            chars.next();
            class_char(chars)?
        } else {
            low
        };
        ranges.push((low, high));
    }
}

fn class_char(chars: &mut std::str::Chars<'_>) -> Option<char> {
    match chars.next()? {
        '-' | ']' => None,
        '\\' => chars.next(),
        c => Some(c),
    }
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(low, high)| low <= c && c <= high) != self.negated
    }
}

/// Whether `tokens` match all of `path`, by dynamic programming from the end (no backtracking, so
/// no pattern can make matching slow): `next[j]` tells whether the tokens after the current one
/// match `path[j..]`. `.` in Go's regexes skips newlines, so `**` does too.
fn glob_matches(tokens: &[Token], path: &str) -> bool {
    let text: Vec<char> = path.chars().collect();
    let n = text.len();
    let mut next = vec![false; n + 1];
    next[n] = true;
    for token in tokens.iter().rev() {
        let mut row = vec![false; n + 1];
        // For `Dirs`: whether `path[j..]` starts with a newline-free run ending in a `/` after which
        // the rest matches.
        let mut through_slash = false;
        for j in (0..=n).rev() {
            let c = text.get(j).copied();
            row[j] = match token {
                Token::Char(want) => c == Some(*want) && next[j + 1],
                Token::OneChar => c.is_some_and(|c| c != '/') && next[j + 1],
                Token::Class(class) => c.is_some_and(|c| class.matches(c)) && next[j + 1],
                Token::AnyName => next[j] || c.is_some_and(|c| c != '/') && row[j + 1],
                Token::Rest => next[j] || c.is_some_and(|c| c != '\n') && row[j + 1],
                Token::Dirs => {
                    through_slash = c.is_some_and(|c| c != '\n') && (through_slash || c == Some('/') && next[j + 1]);
                    next[j] || through_slash
                }
            };
        }
        next = row;
    }
    next[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        Rules::parse(text).expect("valid rules")
    }

    /// The patterns of moby/patternmatcher's `TestMatches` table, each alone, with the paths it must
    /// and must not exclude.
    #[test]
    fn matches_patternmatcher_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**/", "file", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**/**", "dir/file", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
        ];
        for &(pattern, path, excluded) in cases {
            assert_eq!(rules(pattern).excludes(path), excluded, "pattern {pattern:?}, path {path:?}");
        }
    }

    #[test]
    fn matches_patternmatcher_multi_pattern_table() {
        assert!(!rules("**\n!util/docker/web").excludes("util/docker/web/foo"));
        assert!(rules("**\n!util/docker/web\nutil/docker/web/foo").excludes("util/docker/web/foo"));
        assert!(!rules("**\n!dist/*.whl").excludes("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"));
        assert!(!rules("docs\n!docs/README.md").excludes("docs/README.md"));
        assert!(!rules("docs/\n!docs/README.md").excludes("docs/README.md"));
        assert!(!rules("docs/*\n!docs/README.md").excludes("docs/README.md"));
        assert!(rules("!fileutils.go\n*.go").excludes("fileutils.go"));
        assert!(!rules("*.go\n!fileutils.go").excludes("fileutils.go"));
        assert!(!rules("").excludes("any/path/there"));
    }

    /// The examples of Docker's build-context documentation.
    #[test]
    fn follows_docker_documentation_examples() {
        let docs = rules("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(docs.excludes("somedir/temporary.txt"));
        assert!(docs.excludes("somedir/temp"));
        assert!(docs.excludes("somedir/subdir/temporary.txt"));
        assert!(docs.excludes("tempa"));
        assert!(docs.excludes("tempb"));
        assert!(!docs.excludes("temporary.txt"));
        assert!(!docs.excludes("temp"));
        assert!(!docs.excludes("a/b/c/temp"));
        assert!(!docs.excludes("# comment"));

        let go = rules("**/*.go");
        assert!(go.excludes("main.go"));
        assert!(go.excludes("cmd/tool/main.go"));
        assert!(!go.excludes("main.rs"));

        let markdown = rules("*.md\n!README*.md\nREADME-secret.md");
        assert!(markdown.excludes("CHANGES.md"));
        assert!(!markdown.excludes("README.md"));
        assert!(!markdown.excludes("README-public.md"));
        assert!(markdown.excludes("README-secret.md"));

        let reordered = rules("*.md\nREADME-secret.md\n!README*.md");
        assert!(reordered.excludes("CHANGES.md"));
        assert!(!reordered.excludes("README.md"));
        assert!(!reordered.excludes("README-secret.md"));
    }

    #[test]
    fn cleans_patterns_like_docker() {
        let cleaned = rules("/foo\n./bar/\nbaz//qux/../quux\n  spaced  \n!  /foo/keep");
        assert!(cleaned.excludes("foo"));
        assert!(cleaned.excludes("foo/deep/file"));
        assert!(!cleaned.excludes("foo/keep"));
        assert!(cleaned.excludes("bar/x"));
        assert!(cleaned.excludes("baz/quux"));
        assert!(!cleaned.excludes("baz/qux"));
        assert!(cleaned.excludes("spaced"));
    }

    #[test]
    fn only_column_one_hash_is_a_comment() {
        let hashes = rules("#gone\n \t#kept\n\n\r\n");
        assert!(!hashes.excludes("#gone"));
        assert!(hashes.excludes("#kept"));
        assert!(rules("\u{feff}bom\r\nnext\r\n").excludes("bom"));
    }

    #[test]
    fn parent_match_excludes_everything_below() {
        let foo = rules("foo");
        assert!(foo.excludes("foo/bar/baz"));
        assert!(!foo.excludes("foobar"));
        assert!(!foo.excludes("x/foo"));
        assert!(rules("*/b").excludes("a/b/c/d"));
    }

    #[test]
    fn classes_follow_go_filepath_match() {
        let class = rules("[a-c]x\n[^0-9]y\n[\\]]z\n[!]w");
        assert!(class.excludes("bx"));
        assert!(!class.excludes("dx"));
        assert!(class.excludes("ay"));
        assert!(!class.excludes("1y"));
        assert!(class.excludes("]z"));
        // Docker has no `!` negation in classes: `[!]` is the class of `!`.
        assert!(class.excludes("!w"));
        assert!(!class.excludes("aw"));
        assert!(rules("a?c").excludes("abc"));
        assert!(!rules("a?c").excludes("a/c"));
        assert!(!rules("a*c").excludes("a/c"));
    }

    #[test]
    fn bad_patterns_name_their_line() {
        for bad in ["ok\n[", "ok\nfoo[", "ok\n[]", "ok\n[a-]", "ok\n[^]", "ok\nfoo\\", "ok\n!", "ok\n! "] {
            let Err(Error::BadPattern { line, .. }) = Rules::parse(bad) else {
                panic!("{bad:?} parsed");
            };
            assert_eq!(line, 2, "{bad:?}");
        }
        assert!(Rules::parse("]\n[]]x\\]").is_err());
        assert!(Rules::parse("]").is_ok());
    }

    #[test]
    fn git_is_excluded_by_default_and_can_come_back() {
        let default = Rules::default().with_git_excluded();
        assert!(default.excludes(".git"));
        assert!(default.excludes(".git/HEAD"));
        assert!(!default.excludes(".gitignore"));
        assert!(!default.excludes("src/.git"));
        assert!(!default.may_reinclude_under(".git"));

        let back = rules("!.git/**").with_git_excluded();
        assert!(back.excludes(".git"));
        assert!(!back.excludes(".git/HEAD"));
        assert!(!back.excludes(".git/objects/ab/cd"));
        assert!(!back.excludes(".gitignore"));
        assert!(back.may_reinclude_under(".git"));
        assert!(!back.may_reinclude_under(".github"));
    }

    #[test]
    fn excluded_directories_are_walked_only_for_exceptions_inside() {
        let docs = rules("docs\n!docs/keep/README.md");
        assert!(docs.may_reinclude_under("docs"));
        assert!(docs.may_reinclude_under("docs/keep"));
        assert!(!docs.may_reinclude_under("docs/other"));
        assert!(!docs.may_reinclude_under("doc"));
        assert!(!rules("target").may_reinclude_under("target"));
        assert!(rules("docs\n!docs/keep/*").may_reinclude_under("docs/keep"));
        // An exception with a wildcard could match anywhere.
        assert!(rules("target\n!**/*.keep").may_reinclude_under("target"));
        assert!(rules("target\n!*/x").may_reinclude_under("target"));
    }

    #[test]
    fn leading_double_star_suffix_matches_like_patternmatcher() {
        // patternmatcher's suffix shortcut: `**foo` is a plain suffix test.
        assert!(rules("**foo").excludes("barfoo"));
        assert!(rules("**/foo").excludes("a/b/foo"));
        assert!(!rules("**/foo").excludes("barfoo"));
    }

    #[test]
    fn long_paths_match_quickly() {
        let deep = "a/".repeat(2000) + "b";
        assert!(rules("**/a/**/a/**/*b").excludes(&deep));
        assert!(!rules("**/a/**/a/**/*c").excludes(&deep));
    }
}
