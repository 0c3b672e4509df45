//! Which client made a request, in the few words a link's history shows: "curl 8.5", "Firefox on
//! Linux", "Chrome on Android". The browser and system come from woothee's user-agent dataset;
//! command-line tools are named with their version, since that is what tells two of them apart.

/// The client a `User-Agent` names, shortened for people; "Unknown client" when it names none.
pub fn short_name(user_agent: Option<&str>) -> String {
    let agent = user_agent.map(str::trim).unwrap_or_default();
    if agent.is_empty() {
        return UNKNOWN.into();
    }
    let Some(found) = woothee::parser::Parser::new().parse(agent) else { return product(agent) };
    match found.category {
        "pc" | "smartphone" | "mobilephone" | "appliance" if found.name != woothee::woothee::VALUE_UNKNOWN => {
            match system(found.os) {
                Some(os) => format!("{} on {os}", found.name),
                None => found.name.to_string(),
            }
        }
        // A link preview (chat apps, search engines) fetched it: named as the dataset names it.
        "crawler" if found.name != woothee::woothee::VALUE_UNKNOWN && found.name != "HTTP Library" => {
            format!("{} (a bot or link preview)", found.name)
        }
        // Tools (curl, Wget, libraries) and what the dataset does not know: the first product
        // token, with its version.
        _ => product(agent),
    }
}

const UNKNOWN: &str = "Unknown client";

/// The system as people call it; none when the dataset does not know it.
fn system(os: &str) -> Option<&str> {
    match os {
        woothee::woothee::VALUE_UNKNOWN | "" => None,
        // The dataset reads "Windows NT 10.0" as Windows 10, which Windows 11 sends too.
        os if os.starts_with("Windows") => Some("Windows"),
        "Mac OSX" => Some("macOS"),
        os => Some(os),
    }
}

/// "curl/8.5.0" → "curl 8.5": the first product token, its version cut to major.minor.
fn product(agent: &str) -> String {
    let token = agent.split_whitespace().next().unwrap_or_default();
    let (name, version) = token.split_once('/').unwrap_or((token, ""));
    // Control characters and markup never reach the window from a client's header.
    let name: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
    if name.is_empty() {
        return UNKNOWN.into();
    }
    let version: Vec<&str> = version.split('.').take(2).filter(|p| !p.is_empty()).collect();
    let version = version.join(".");
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        name
    } else {
        format!("{name} {version}")
    }
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn tools_browsers_and_systems_in_a_few_words() {
        let cases = [
            ("curl/8.5.0", "curl 8.5"),
            ("Wget/1.21.3", "Wget 1.21"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            ("python-requests/2.31.0", "python-requests 2.31"),
            ("SomeTool", "SomeTool"),
            ("", "Unknown client"),
        ];
        for (agent, want) in cases {
            assert_eq!(short_name(Some(agent)), want, "{agent}");
        }
        assert_eq!(short_name(None), "Unknown client");
    }
}
