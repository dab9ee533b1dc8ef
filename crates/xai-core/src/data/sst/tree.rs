//! PTB s-expression trees as SST writes them: `(3 (2 (2 The) (2 Rock)) (4 ...))`. A leaf
//! node's text may hold several space-separated tokens (`(2 8 1\/2)`).

/// One node: its fine sentiment label and the token span `[start, end)` it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub label: u8,
    pub start: usize,
    pub end: usize,
}

/// A parsed tree: lower-cased tokens and every node, in closing (post-) order, so the
/// root is last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub tokens: Vec<String>,
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The root's fine label (0–4).
    pub fn label(&self) -> u8 {
        self.nodes.last().map(|n| n.label).unwrap_or(2)
    }
}

/// Where and why a line failed to parse (byte offset within the line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { offset, message: message.into() })
}

/// Parses one tree. Iterative (an explicit stack), so deep nesting cannot overflow.
pub fn parse_tree(line: &str) -> Result<Tree, ParseError> {
    let b = line.as_bytes();
    let mut tokens = Vec::new();
    let mut nodes = Vec::new();
    // Open nodes: (label, first token, offset of the '(', has children).
    let mut stack: Vec<(u8, usize, usize, bool)> = Vec::new();
    let mut i = 0;
    let mut done = false;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_whitespace() => i += 1,
            _ if done => return fail(i, "text after the end of the tree"),
            b'(' => {
                let open = i;
                i += 1;
                let ls = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i == ls {
                    return fail(ls, "expected a label digit after '('");
                }
                let label: u8 = match line[ls..i].parse() {
                    Ok(l) if l <= 4 => l,
                    _ => return fail(ls, format!("label `{}` is not in 0..=4", &line[ls..i])),
                };
                if let Some(top) = stack.last_mut() {
                    top.3 = true;
                }
                stack.push((label, tokens.len(), open, false));
                // Text up to the next parenthesis is this node's leaf text.
                let ts = i;
                while i < b.len() && b[i] != b'(' && b[i] != b')' {
                    i += 1;
                }
                let text = line[ts..i].trim();
                if !text.is_empty() {
                    if i < b.len() && b[i] == b'(' {
                        return fail(i, "a node has both leaf text and children");
                    }
                    tokens.extend(text.split_whitespace().map(str::to_lowercase));
                }
            }
            b')' => {
                let Some((label, start, open, has_children)) = stack.pop() else {
                    return fail(i, "unbalanced ')'");
                };
                if tokens.len() == start && !has_children {
                    return fail(open, "empty node (no text, no children)");
                }
                nodes.push(Node { label, start, end: tokens.len() });
                i += 1;
                if stack.is_empty() {
                    done = true;
                }
            }
            _ => return fail(i, format!("unexpected `{}` outside a node", line[i..].chars().next().unwrap_or('?'))),
        }
    }
    if let Some(&(_, _, open, _)) = stack.last() {
        return fail(open, format!("unbalanced '(': {} node(s) not closed at end of line", stack.len()));
    }
    if nodes.is_empty() {
        return fail(0, "no tree on this line");
    }
    Ok(Tree { tokens, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spans_and_multi_token_leaves() {
        let t = parse_tree("(3 (2 The) (4 (3 8 1\\/2) (2 Rock)))").unwrap();
        assert_eq!(t.tokens, ["the", "8", "1\\/2", "rock"]);
        assert_eq!(t.label(), 3);
        assert_eq!(t.nodes.len(), 5);
        assert_eq!(t.nodes.last().unwrap(), &Node { label: 3, start: 0, end: 4 });
        assert!(t.nodes.contains(&Node { label: 3, start: 1, end: 3 }));
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(parse_tree("(3 (2 a)").unwrap_err().offset, 0);
        assert_eq!(parse_tree("(3 (2 a)))").unwrap_err().offset, 9);
        assert!(parse_tree("(7 a)").unwrap_err().message.contains("0..=4"));
        assert!(parse_tree("").is_err());
        assert!(parse_tree("(2 a) (2 b)").is_err());
    }
}
