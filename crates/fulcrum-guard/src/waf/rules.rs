//! The detectors' patterns, in the spirit of the OWASP Core Rule Set's groups (930 LFI, 931
//! RFI, 932 RCE, 933 PHP, 941 XSS, 942 SQLi, 913/920/921 protocol) and paranoia levels:
//! each pattern names its class, the lowest paranoia level it runs at, which decoded view of
//! an input it reads and which parts of a request it applies to. Written for Fulcrum from
//! what the attacks look like; none is copied from the CRS.
//!
//! Patterns are compiled with the `regex` crate (finite automata, no backtracking): matching
//! is linear in the input. They are compiled once per paranoia level and shared.

use super::{Class, PartKind};

/// Which decoded view a pattern reads (see `decode.rs`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    Text,
    Sql,
    Shell,
}

pub struct Rule {
    pub id: &'static str,
    pub class: Class,
    pub paranoia: u8,
    pub view: View,
    /// Bitmask of [`PartKind`]s.
    pub parts: u8,
    pub pattern: &'static str,
}

const P: u8 = PartKind::Path as u8;
const A: u8 = PartKind::Arg as u8;
const N: u8 = PartKind::ArgName as u8;
const H: u8 = PartKind::Header as u8;
const C: u8 = PartKind::Cookie as u8;
const F: u8 = PartKind::FileName as u8;
const O: u8 = PartKind::OtherHeader as u8;
const ANY: u8 = P | A | N | H | C | F | O;
const VALS: u8 = A | N | C | F;

macro_rules! r {
    ($id:literal, $class:ident, $pl:literal, $view:ident, $parts:expr, $pat:expr) => {
        Rule {
            id: $id,
            class: Class::$class,
            paranoia: $pl,
            view: View::$view,
            parts: $parts,
            pattern: $pat,
        }
    };
}

/// Unix commands an injection runs (a word boundary on each side).
/// Unix commands that are not also common words: a separator before them is enough.
macro_rules! strong_cmds {
    () => {
        r"(?:ansible(?:-[a-z]+)?|chef(?:-[a-z]+)?|cscli|pip[3x]?|gdb|c89|c99|perf|base32|strace|ltrace|flock|visudo|adduser|deluser|usermod|iwr|kubectl|docker|npm|npx|apt-get|yum|dnf|apk|cat|tac|ls|whoami|uname|ifconfig|netstat|wget|curl|lwp-download|nc|ncat|netcat|socat|telnet|ssh|scp|tftp|bash|zsh|ksh|csh|dash|tcsh|python[0-9.]*|perl|ruby|php|lua|node|gawk|nslookup|sudo|crontab|base64|xxd|chmod|chown|nohup|nmap|useradd|passwd|systemctl|pkill|killall|lsof|openssl|gcc|jexec|vim?|nano|sh|awk|sed|rm|mkdir|uptime|hostname|ps|id|echo|printf|env|export|eval|exec)"
    };
}

macro_rules! unix_cmds {
    () => {
        r"(?:ansible(?:-[a-z]+)?|chef(?:-[a-z]+)?|cscli|pip[3x]?|gdb|c89|c99|perf|base32|strace|ltrace|flock|visudo|lastlog(?:in)?|adduser|fold|comm|cut|trap|top|alias|kubectl|docker|npm|npx|apt-get|yum|dnf|apk|cat|tac|nl|head|tail|more|less|ls|dir|id|whoami|uname|hostname|ifconfig|ip|netstat|ps|kill|pkill|wget|curl|fetch|lwp-download|nc|ncat|netcat|socat|telnet|ssh|scp|ftp|tftp|bash|sh|zsh|ksh|csh|dash|tcsh|python[0-9.]*|perl|ruby|php|lua|node|awk|gawk|sed|find|xargs|echo|printf|rm|mv|cp|chmod|chown|touch|mkdir|ping|nslookup|dig|host|sleep|env|export|eval|exec|sudo|su|crontab|base64|xxd|od|dd|tar|gzip|zip|unzip|passwd|useradd|last|w|who|uptime|systemctl|service|mount|nohup|timeout|time|nmap|tee|grep|egrep|fgrep|sort|uniq|wc|cut|strings|file|stat|readlink|which|whereis|locate|sh|history|alias|set|unset|source|chattr|lsof|mail|sendmail|openssl|gcc|cc|make|java|jexec|vi|vim|nano|ed|man|diff|cmp|rev|expr|seq|yes|true|false|kill|killall|shutdown|reboot|init|halt|poweroff|at|batch)"
    };
}

pub const RULES: &[Rule] = &[
    // ---- 930: path traversal, local file inclusion ----
    r!("930100", Lfi, 1, Text, ANY, r"(?:^|[\\/])\.\.(?:[\\/]|$)"),
    r!(
        "930101",
        Lfi,
        1,
        Text,
        P | VALS,
        r"\.\.(?:;|%|::)[\\/]?|[\\/]\.\.\.+[\\/]"
    ),
    r!(
        "930120",
        Lfi,
        1,
        Text,
        P | VALS | H,
        r"(?:/etc/(?:passwd|shadow|group|hosts|issue|motd|sudoers|crontab|environment|profile|security|mysql|httpd|apache2?|nginx|php|ssh)|/proc/(?:self|\d+)/|/var/log/|/var/www/|/root/|/home/[^/]+/\.|(?:^|[\\/])(?:\.htaccess|\.htpasswd|\.bash_history|\.bashrc|\.ssh|\.git/|\.svn/|\.env|\.aws/|web\.config|wp-config\.php|boot\.ini|win\.ini|system\.ini|system32|windows[\\/](?:win\.ini|system)|autoexec\.bat|config\.sys|id_rsa|authorized_keys|known_hosts|etc[\\/]passwd)|c:[\\/](?:windows|winnt|boot\.ini|inetpub|users))"
    ),
    r!(
        "930130",
        Lfi,
        1,
        Text,
        P,
        r"/(?:\.git|\.svn|\.hg|\.bzr|\.env|\.htaccess|\.htpasswd|\.ds_store|\.aws|\.ssh|\.idea|\.vscode|\.docker|web\.config|wp-config\.php|composer\.(?:json|lock)|package\.json|\.npmrc|\.dockerignore|dockerfile)(?:/|$)"
    ),
    // ---- 931: remote file inclusion ----
    r!(
        "931100",
        Rfi,
        1,
        Text,
        VALS,
        r"^(?:file|ftps?|https?|php|data|expect|zlib|glob|phar|ssh2|rar|ogg|gopher|dict|ldap|jar|smb)s?://(?:[^@/]*@)?\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
    ),
    r!(
        "931110",
        Rfi,
        1,
        Text,
        VALS,
        r"(?:\b(?:include|require)(?:_once)?|\bmosconfig\w*|\b(?:path|file|page|dir|template|inc|conf|url|src|load)\w*)\s*=\s*(?:ftps?|https?)://"
    ),
    r!(
        "931120",
        Rfi,
        1,
        Text,
        VALS,
        r"^(?:ftps?|https?|file)://[^?#]+\?+$"
    ),
    r!(
        "931130",
        Rfi,
        2,
        Text,
        VALS,
        r"^(?:ftps?|file|php|data|expect|zlib|glob|phar|ssh2|gopher|dict|ldap|jar|smb|sftp|tftp)://|^(?:https?)://[^/?#]+/[^?#]*\.(?:txt|php\d?|inc|phtml|sh|pl|py|cgi|asp|aspx|jsp|exe|bin|jpg|gif|png)\??$|^https?:/[^/]"
    ),
    // ---- 932: remote command execution ----
    r!(
        "932100",
        Rce,
        1,
        Shell,
        VALS | H,
        concat!(
            r"(?:[;&|`\n]|\$\(|\|\||&&)\s*(?:[\w/.-]*/)?",
            strong_cmds!(),
            r"(?:\s|$|[;&|<>`)])"
        )
    ),
    r!(
        "932101",
        Rce,
        1,
        Shell,
        VALS | H,
        concat!(
            r"(?:[;&|`\n]|\$\(|\|\||&&)\s*(?:[\w/.-]*/)?",
            unix_cmds!(),
            r"\s+(?:-{1,2}[\w-]|/|\$|~|\.\.?/|[<>|&;`])"
        )
    ),
    r!(
        "932105",
        Rce,
        1,
        Shell,
        VALS | H,
        r"(?:[;&|`\n]|\$\(|\|\||&&)\s*(?:/(?:usr/)?(?:local/)?s?bin/\w+|\.?/[\w.-]+\.sh\b)"
    ),
    r!(
        "932110",
        Rce,
        1,
        Text,
        VALS | H,
        r"(?:[;&|`\n]|\|\||&&)\s*(?:cmd(?:\.exe)?\s*/[ck]|powershell(?:\.exe)?|pwsh|net\s+(?:user|localgroup|view|share|use|start|stop)|ipconfig|systeminfo|tasklist|taskkill|reg\s+(?:add|query|delete)|wmic|regedit|bcdboot|bcdedit|iwmi|invoke-wmimethod|schtasks|vssadmin|icacls|takeown|netsh|fsutil|diskpart|certutil|bitsadmin|mshta|rundll32|regsvr32|cscript|wscript|type\s+[a-z]:|dir\s+[a-z]:|copy\s+|del\s+|ver\b|whoami|echo\s+|ping\s+|nslookup\s+|start\s+|sc\s+(?:query|create|start))"
    ),
    r!(
        "932115",
        Rce,
        1,
        Text,
        VALS | H,
        r"(?:cmd(?:\.exe)?\s*/[ck]\s|powershell(?:\.exe)?\s+-(?:e|enc|encodedcommand|c|command|nop|noprofile|w|windowstyle|exec)\b|\binvoke-(?:expression|webrequest|command)\b|\biex\s*\(|new-object\s+net\.webclient|\bdownloadstring\s*\()"
    ),
    r!(
        "932130",
        Rce,
        1,
        Shell,
        VALS | H,
        r"\$\([^)]+\)|`[^`]+`|\$\{[^}]*\}|<\([^)]+\)"
    ),
    r!(
        "932140",
        Rce,
        1,
        Text,
        VALS | H,
        r"\bfor\s+/[fl]\b|\bif\s+(?:not\s+)?(?:exist|defined|errorlevel)\b|%comspec%|%systemroot%|%windir%"
    ),
    r!(
        "932150",
        Rce,
        1,
        Shell,
        VALS | H,
        concat!(
            r"^\s*(?:[\w/.-]*/)?",
            unix_cmds!(),
            r"\s+(?:-{1,2}[\w-]+|/[\w.]|[\w.-]+[/:|;]|[<>|&;]|\$)"
        )
    ),
    r!(
        "932160",
        Rce,
        1,
        Shell,
        VALS | H,
        r"(?:^|[\s;|&`(=])/(?:usr/)?(?:local/)?s?bin/(?:\w+)|/etc/(?:passwd|shadow)|/dev/(?:tcp|udp)/"
    ),
    r!(
        "932170",
        Rce,
        1,
        Text,
        ANY | O,
        r"\(\s*\)\s*\{.*?;\s*\}\s*;"
    ),
    r!(
        "932180",
        Rce,
        1,
        Text,
        F,
        r"(?:\.(?:bashrc|bash_profile|bash_login|profile|zshrc|cshrc|htaccess|htpasswd)|(?:^|/)(?:passwd|shadow|authorized_keys|crontab))$"
    ),
    r!(
        "932200",
        Rce,
        2,
        Text,
        VALS | H,
        r"/(?:[\w?*\[\]]*[?*\[][\w?*\[\]]*/)+[\w?*\[\]]*[?*]|/\?\?\?/|\w+\?\?\w*\s|\b(?:c|w|n|b|p)\?\w*\s+/"
    ),
    r!(
        "932220",
        Rce,
        2,
        Shell,
        VALS | H,
        concat!(r"\|\s*(?:[\w/.-]*/)?", strong_cmds!(), r"\b")
    ),
    r!(
        "932230",
        Rce,
        2,
        Shell,
        VALS | H,
        concat!(r"(?:[;&]|\|\||&&)\s*(?:[\w/.-]*/)?", strong_cmds!(), r"\b")
    ),
    r!(
        "932235",
        Rce,
        2,
        Shell,
        VALS | H,
        concat!(
            r"^\s*(?:[\w/.-]*/)?",
            unix_cmds!(),
            r"\s+[\w.-]*(?:[/~]|\.\.|\*)"
        )
    ),
    r!(
        "932240",
        Rce,
        3,
        Text,
        VALS | H,
        r"\b[a-z]+(?:'[^'\s]*'|\x22[^\x22\s]*\x22)+[a-z]+\b|\b\w+(?:\\[a-z])+\w*\b"
    ),
    r!(
        "932236",
        Rce,
        3,
        Shell,
        VALS | H,
        concat!(r"^\s*", unix_cmds!(), r"\s")
    ),
    r!(
        "932131",
        Rce,
        1,
        Shell,
        VALS | H | O,
        r"\$\[[^\]]*\]|\balias\s+[\w.-]+=|(?:^|\s)~[+-]\d*(?:\s|$|/)|!-\d+|/[\w.-]*\[[^\]\s/]*\][\w.-]*|/\[[^\]]*\]|>\([^)]+\)|\(\s*\)\s*\{|\{\s*,[^}]*\}|\$\{[^}]*[:#%/][^}]*\}"
    ),
    r!(
        "932141",
        Rce,
        1,
        Text,
        VALS | H,
        r"\bfor\s+(?:/[a-z]\s+)?(?:[^%]{0,40}\s)?%%?[\w\[]+\s+in\s*\(.*\)\s*do\b|\bif\s+(?:/i\s+)?(?:not\s+)?(?:cmdextversion|errorlevel|exist|defined)\b|\bif\s+(?:/i\s+)?(?:not\s+)?\S+\s+(?:equ|neq|lss|leq|gtr|geq)\s+\S+\s+(?:echo|goto|set|call|cmd|exit|del|copy)\b"
    ),
    r!(
        "932301",
        Rce,
        1,
        Text,
        VALS | H,
        r"\n\s*(?:ehlo|helo)\s+[\w.-]+|\n\s*(?:mail\s+from|rcpt\s+to)\s*:|\n\s*(?:retr|dele|top)\s+\d+|\n\s*apop\s+\w+\s+[0-9a-f]{32}|\n\s*\w+\s+(?:login|select|examine|fetch|uid\s+fetch|store)\s+\S"
    ),
    r!(
        "932232",
        Rce,
        2,
        Shell,
        VALS | H,
        concat!(
            r"(?:[;&|`]|\|\||&&|\$\()\s*(?:[\w/.-]*/)?",
            unix_cmds!(),
            r"(?:\s+(?:-{1,2}\w|[\w.-]*[/~*$]|\.\.?/|\S*[;&|<>`])|\s*[;&|<>`)]|\s*$)"
        )
    ),
    r!(
        "932237",
        Rce,
        2,
        Shell,
        A | C | H,
        concat!(r"^\s*(?:[\w/.-]*/)?", strong_cmds!(), r"(?:\s|$)")
    ),
    r!(
        "930121",
        Lfi,
        1,
        Text,
        P | VALS,
        r"(?:^|/)sys/(?:class|kernel|devices|power|fs|module|firmware)\b|/proc/\w+"
    ),
    r!(
        "930131",
        Lfi,
        1,
        Text,
        P,
        r"/\.(?:cursor\w*|aider\w*|zed|plandex|junie|claude|continue|windsurf\w*|copilot\w*|vagrant|terraform|kube|npm|yarn|history|lesshst|mysql_history|psql_history|viminfo|netrc|pgpass|boto|s3cfg|dockercfg|docker|git-credentials|gnupg|bash_\w+|zsh_history|zshrc|profile|composer|roo|n8n|ollama|mcp|codeium|tabnine|sourcegraph)(?:[/.]|$)|\.(?:sql|db|bak|backup|old|dump)\.(?:zip|gz|tar|tgz|bz2|7z|rar|xz)$"
    ),
    r!("931131", Rfi, 2, Text, P, r"/(?:https?|ftps?|file):/"),
    r!("931132", Rfi, 2, Text, VALS, r"^jar:"),
    // ---- 933: PHP injection ----
    r!(
        "933100",
        Php,
        1,
        Text,
        VALS | H | P | O,
        r"<\?(?:php\b|=|\s)|\[\?php"
    ),
    r!(
        "933110",
        Php,
        1,
        Text,
        F,
        r"\.\s*(?:php\d*|phpt|phtml|phar|pht|phps|inc)(?:\.|$)|(?:^|/)sess_\w{16,}$|\.(?:bak|backup|old|orig|save|swp|tmp|config|conf|ini|htaccess|htpasswd|env)$"
    ),
    r!(
        "933120",
        Php,
        1,
        Text,
        VALS | H,
        r"\b(?:allow_url_(?:fopen|include)|auto_(?:append|prepend)_file|disable_functions|open_basedir|safe_mode|register_globals|display_errors|magic_quotes_gpc|suhosin\.\w+|error_reporting|extension_dir|file_uploads|short_open_tag)\s*="
    ),
    r!(
        "933130",
        Php,
        1,
        Text,
        VALS | H | P,
        r"\$_(?:get|post|cookie|request|server|files|env|session)\b|\$globals\b|\$http_(?:raw_post_data|\w+_vars)\b|\bphp://(?:input|filter|stdin|memory|temp|fd|output)|\b(?:phar|zlib|expect|glob|data)://"
    ),
    r!(
        "933150",
        Php,
        1,
        Text,
        VALS | H | P,
        r"\b(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|eval|assert|create_function|call_user_func(?:_array)?|preg_replace|base64_decode|gzinflate|gzuncompress|str_rot13|file_get_contents|file_put_contents|fopen|fwrite|fputs|readfile|unlink|include|require|include_once|require_once|phpinfo|posix_\w+|show_source|highlight_file|ini_set|ini_get|getenv|putenv|move_uploaded_file|curl_exec|fsockopen|pfsockopen|mail|unserialize|serialize|var_dump|print_r|array_map|array_filter|usort|uasort|ob_start|extract|parse_str|mb_ereg_replace|chr|ord|dl|escapeshellcmd|escapeshellarg|symlink|chmod|chown|copy|rename|rmdir|mkdir|opendir|readdir|scandir|glob|file|fread|fgets|stream_get_contents|simplexml_load_string|hex2bin|bin2hex|strrev|urldecode|rawurldecode|convert_uudecode|gzdecode|htmlspecialchars_decode|md5|sha1|crc32|get_defined_vars|get_defined_functions|func_get_args|reflectionfunction|constant|define|defined|function_exists|class_exists|method_exists|phpversion|php_uname|sys_get_temp_dir|tempnam|tmpfile|set_time_limit|ignore_user_abort|header|setcookie|session_start|error_log|debug_zval_dump)\s*(?:/\*.*?\*/\s*)*\("
    ),
    r!(
        "933160",
        Php,
        1,
        Text,
        VALS | H,
        r"\b(?:[a-z_]\w*)\s*(?:\(\s*\)|\x22[^\x22]*\x22|'[^']*')\s*\.\s*(?:[a-z_]\w*\s*)?\(|\$\w+\s*\(\s*\$?\w*|\$\{\s*\w+\s*\}|\(\s*\x22[^\x22]*\x22\s*\)\s*\(|\w+\s*\(\s*\)\s*;\s*\?>"
    ),
    r!(
        "933170",
        Php,
        1,
        Text,
        VALS | H | C,
        r"(?:^|[;{\s])[oca]:\+?\d+:\x22[\w\\]+\x22:\d+:\{|^a:\d+:\{[isbd]:|^s:\d+:\x22"
    ),
    r!(
        "933180",
        Php,
        1,
        Text,
        VALS | H,
        r"\$+(?:[a-z_\x7f-\xff][\w\x7f-\xff]*|\s*\{.+\})(?:\s|\[.+\]|\{.*\}|/\*.*\*/|//.*|#.*)*\(.*\)"
    ),
    r!(
        "933200",
        Php,
        1,
        Text,
        VALS | H,
        r"\b(?:zlib|glob|phar|ssh2|rar|ogg|expect|zip)://"
    ),
    r!(
        "933210",
        Php,
        1,
        Text,
        VALS | H,
        r"(?:\(\s*[\w\x22'.]+\s*\)\s*){2,}|\(\s*\x22[\w\s]*\x22\s*\.\s*\x22"
    ),
    r!(
        "933151",
        Php,
        2,
        Text,
        VALS,
        r"\b(?:array_walk|array_reduce|uksort|preg_replace_callback|register_shutdown_function|register_tick_function|set_error_handler|set_exception_handler|iterator_apply|forward_static_call|strrev|str_replace|substr|implode|explode|sprintf|vsprintf|printf|echo|print|die|exit|sleep|usleep|system|popen|exec|shell_exec|passthru|assert|eval|base64_decode)\s*\("
    ),
    r!("933190", Php, 3, Text, VALS, r"\?>"),
    r!(
        "933101",
        Php,
        1,
        Text,
        VALS | H,
        r"\[\\?/?php\]|\{/?php\}|<\?xml\s*:\s*\w|\$\s*\{\s*['\x22$]|\bssh2\.\w+://"
    ),
    r!(
        "933121",
        Php,
        1,
        Text,
        VALS | H,
        r"\b(?:session|mbstring|opcache|zend|pcre|mysqli|xdebug|mail|cgi|fastcgi|user_ini|assert|phar|zlib|apc|apcu)\.\w[\w.]*\s*=|\b(?:memory_limit|post_max_size|upload_max_filesize|max_execution_time|max_input_\w+|precision|serialize_precision|unserialize_max_depth|output_buffering|output_handler|implicit_flush|include_path|expose_php|log_errors|error_log|html_errors|register_argc_argv|variables_order|request_order|enable_dl|sendmail_path|sys_temp_dir|upload_tmp_dir|default_charset|user_agent|default_socket_timeout|doc_root|user_dir|realpath_cache_\w+)\s*="
    ),
    r!(
        "933152",
        Php,
        1,
        Text,
        VALS | H | P,
        r"(?:fsockopen|pfsockopen|gzdecode|gzinflate|gzuncompress|bzdecompress|bzopen|zlib_decode|shell_exec|proc_open|pcntl_exec|base64_decode|str_rot13|convert_uudecode|file_get_contents|file_put_contents|file_exists|move_uploaded_file|create_function|call_user_func|preg_replace|assert_options|register_shutdown_function|php_uname|posix_\w+|passthru|escapeshellcmd|escapeshellarg|highlight_file|show_source|get_defined_vars|getmypid|getmyuid|stream_socket_client|stream_get_contents|curl_exec|curl_multi_exec|parse_ini_file|ini_restore|readline_\w+|mb_ereg_replace|symlink|apache_child_terminate|dl\s*\()"
    ),
    r!(
        "933153",
        Php,
        2,
        Text,
        VALS | H | P,
        r"\b[a-z][a-z0-9]*_[a-z0-9_]+\s*\(|\b(?:substr|unpack|pack|intval|floatval|strval|settype|filegroup|fileowner|fileperms|filesize|gethostbyname|getenv|array_diff|array_merge|implode|explode|sprintf|printf|strrev|strtolower|strtoupper|ucfirst|urldecode|rawurldecode|hex2bin|serialize|unserialize|var_export|compact|extract|list|each|current|next|reset|end|key|count|sizeof|in_array|is_array|is_string|is_numeric|isset|unset|empty|chr|ord|md5|sha1|crc32|rand|mt_rand|uniqid|microtime|time|date|mktime|strtotime|sleep|usleep|die|exit|eval|assert|system|exec|popen|fopen|fread|fwrite|fgets|fclose|file|copy|rename|unlink|rmdir|mkdir|chmod|chown|touch|glob|scandir|opendir|readdir|phpinfo|header|setcookie|mail)\s*\("
    ),
    // ---- 941: cross-site scripting ----
    r!(
        "941110",
        Xss,
        1,
        Text,
        VALS | H | P | O,
        r"<\s*/?\s*script\b|<\s*/?\s*scr[^a-z]|\bscript\s*>"
    ),
    r!(
        "941120",
        Xss,
        1,
        Text,
        VALS | H | P,
        r"<[^>]*?[\s/\x22'`]on[a-z]{3,}\s*=|\bon(?:error|load|click|mouseover|mouseout|focus|blur|submit|change|keydown|keyup|keypress|toggle|begin|end|animationstart|pointer\w+|wheel|scroll|resize|unload|pageshow|hashchange|message|input|select|drag\w*|drop|copy|paste|cut|beforeunload|afterprint|beforeprint|popstate|storage|offline|online|show|search|invalid|auxclick|dblclick|contextmenu)\s*=\s*[\w\x22'`(]"
    ),
    r!(
        "941130",
        Xss,
        1,
        Text,
        VALS | H | P,
        r"\b(?:xlink:href|formaction|xmlns|srcdoc|background|dynsrc|lowsrc|data|href|src|action|style)\s*=\s*[\x22'`]?\s*(?:javascript|vbscript|livescript|data|jar|mocha)\s*:"
    ),
    r!(
        "941140",
        Xss,
        1,
        Text,
        VALS | H | P,
        r"\b(?:j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t|livescript|mocha)\s*:|-moz-binding|\bexpression\s*\(|\burl\s*\(\s*[\x22']?\s*javascript|\bbehavior\s*:"
    ),
    r!(
        "941160",
        Xss,
        1,
        Text,
        VALS | H | P,
        r"<\s*/?\s*(?:iframe|frame|frameset|object|embed|applet|svg|math|meta|link|style|base|isindex|xml|xss|layer|ilayer|bgsound|vmlframe|import|portal|handler|listener|template|set|animate|keygen|blink)\b|<\s*(?:img|image|video|audio|source|body|html|input|button|textarea|select|details|marquee|form|table|td|a|div|span|p)\b[^>]*?\b(?:on\w+|formaction|srcdoc|xmlns|dynsrc|lowsrc)\s*="
    ),
    r!(
        "941170",
        Xss,
        1,
        Text,
        VALS | H,
        r"(?:\bdata\s*:\s*text/html|\bdata\s*:[^,]*;base64,|\bdocument\s*\.\s*(?:cookie|write|location|domain)|\bwindow\s*\.\s*(?:location|open|name)|\b(?:alert|prompt|confirm|eval|settimeout|setinterval|fromcharcode|atob|btoa)\s*(?:\(|`)|\bstring\s*\.\s*fromcharcode|\.innerhtml\s*=|\bnew\s+function\b|\bself\s*\[|\btop\s*\[|\bconstructor\s*\()"
    ),
    r!(
        "941180",
        Xss,
        1,
        Text,
        VALS | H,
        r"\b(?:document\.cookie|document\.write|\.parentnode|\.innerhtml|window\.location|-moz-binding)|<!--|-->|<!\[cdata\[|\]\]>"
    ),
    r!(
        "941190",
        Xss,
        1,
        Text,
        VALS | H,
        r"<\s*style\b|\bstyle\s*=\s*[\x22']?[^\x22'>]*(?:expression|behavior|url\s*\(\s*['\x22]?\s*(?:javascript|vbscript|data):|@import|-moz-binding)|@import\b"
    ),
    r!(
        "941200",
        Xss,
        1,
        Text,
        VALS | H,
        r"<\s*(?:v:|vmlframe|xml|xss|x:)\w*|\bxmlns\s*:\s*\w+\s*=|<\?import|<\s*import|!entity\s+%?\s*\w+\s+system\b|<\s*!\s*entity"
    ),
    r!(
        "941210",
        Xss,
        1,
        Text,
        VALS | H,
        r"\bj\W{0,4}a\W{0,4}v\W{0,4}a\W{0,4}s\W{0,4}c\W{0,4}r\W{0,4}i\W{0,4}p\W{0,4}t\W{0,4}:|\bv\W{0,4}b\W{0,4}s\W{0,4}c\W{0,4}r\W{0,4}i\W{0,4}p\W{0,4}t\W{0,4}:"
    ),
    r!(
        "941300",
        Xss,
        1,
        Text,
        VALS | H,
        r"<\s*(?:object|embed|applet|param|iframe|frame)\b"
    ),
    r!(
        "941310",
        Xss,
        1,
        Text,
        VALS | H,
        r"\xbc[^\xbe]*\xbe|\xbc\s*/\s*script|\+adw-|\+ad4-"
    ),
    r!("941350", Xss, 1, Text, VALS | H, r"\+ad[wz4]-.*script"),
    r!(
        "941320",
        Xss,
        2,
        Text,
        VALS | H,
        r"<\s*(?:a|abbr|address|area|article|aside|b|bdo|big|blockquote|body|br|caption|center|cite|code|col|dd|del|dfn|div|dl|dt|em|fieldset|font|h[1-6]|head|hr|i|ins|kbd|label|legend|li|map|menu|noscript|ol|optgroup|option|p|pre|q|s|samp|small|span|strike|strong|sub|sup|tbody|tfoot|th|thead|title|tr|tt|u|ul|var)\b[^>]*\b(?:on\w+|style)\s*="
    ),
    r!(
        "941330",
        Xss,
        2,
        Text,
        VALS | H,
        r"[\x22'][^\x22']*?\b(?:on\w+|formaction|style)\s*=|\b(?:location|name|cookie|innerhtml)\s*=\s*[\x22'`]"
    ),
    r!(
        "941340",
        Xss,
        2,
        Text,
        VALS | H,
        r"[\x22']\s*[;+]\s*\w+\s*\(|[\x22'`]\s*-\s*\w+\s*\(|\)\s*;\s*//"
    ),
    r!("941380", Xss, 2, Text, VALS | H, r"\{\{.*?\}\}|\$\{.*?\}"),
    r!(
        "941390",
        Xss,
        2,
        Text,
        VALS | H,
        r"<\s*[a-z][\w-]*[\s/]+[^>]*="
    ),
    r!("941121", Xss, 1, Text, N, r"^\s*on[a-z]{3,}\s*="),
    r!(
        "941161",
        Xss,
        1,
        Text,
        VALS | H,
        r"<\s*[a-z](?:\s+[a-z]){3,}\b|\breflect\s*\.\s*\w+|\.(?:call|apply)\s*`"
    ),
    r!(
        "941371",
        Xss,
        1,
        Sql,
        VALS | H,
        r"\b(?:document|window|self|top|parent|globalthis|frames)\s*(?:\.\s*(?:cookie|location|domain|write|writeln|open|eval|alert)\b|\[\s*['\x22`](?:alert|eval|document|cookie|location|constructor|prompt|confirm)['\x22`]\s*\])"
    ),
    r!(
        "941321",
        Xss,
        2,
        Text,
        VALS | H,
        r"<\s*/?\s*(?:noscript|textarea|title|xmp|plaintext|noembed|noframes|iframe|script|style)\b"
    ),
    // ---- 942: SQL injection ----
    r!(
        "942100",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"\bunion\s+(?:all\s+|distinct\s+)?(?:\(\s*)*select\b|\bselect\s+(?:\*|[\w@.`\x22'()]+(?:\s*,\s*[\w@.`\x22'()]+)*)\s+from\s+[\w`\x22.\[\]]+\s*(?:$|;|--|#|\)|where\b|limit\b|order\b|group\b|union\b|join\b|into\b)|\bselect\s+(?:\w+\s*\(|@@|char|concat|version|user|database|schema|sleep|benchmark|null|\d+\s*(?:,|$|from|--|#|;|\))|\(\s*select)|\binsert\s+into\s+[\w`\x22.\[\]]+(?:\s*\(|\s+values|\s+select)|\bupdate\s+[\w`\x22.\[\]]+\s+set\s+[\w`\x22.]+\s*=|\bdelete\s+from\s+[\w`\x22.\[\]]+|\b(?:drop|create|alter|truncate|rename)\s+(?:table|database|schema|view|user|procedure|function|index|trigger|column)\b"
    ),
    r!(
        "942110",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"^['\x22`)]+\s*(?:;|--|#|\)|$|\s(?:or|and|xor|union|having|group|order|limit|procedure|into)\b)|['\x22`]\s*(?:;|--|#)"
    ),
    r!(
        "942120",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"['\x22`\d)]\s*(?:or|and|xor|\|\||&&|div|like|rlike|regexp|between|sounds\s+like)\s+['\x22`(]*\s*[\w@'\x22`.-]+['\x22`)]*\s*(?:=|<=?>?|>=?|!=|\blike\b|\bis\b|\bin\b|\bbetween\b|\bregexp\b|--|#|;|$)|['\x22`]\s*(?:or|and|\|\||&&)\s*['\x22`]|['\x22`]\s*=\s*['\x22`]|\b(?:or|and)\s+(?:\d+|'[^']*'|\x22[^\x22]*\x22)\s*(?:=|<|>|!=)\s*(?:\d+|'[^']*'|\x22[^\x22]*\x22)"
    ),
    r!(
        "942130",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"\b(?:(?:sleep|benchmark|pg_sleep|randomblob|load_file|extractvalue|updatexml|xmltype)\s*\(|waitfor\s+delay|waitfor\s+time|dbms_pipe\.receive_message|utl_inaddr|utl_http|dbms_\w+|sys_context|xp_cmdshell|xp_regread|xp_dirtree|sp_executesql|sp_password|sp_oacreate|sp_makewebtask|openrowset|opendatasource|information_schema|pg_catalog|sysobjects|syscolumns|sysdatabases|mysql\.user|msysaccessobjects|sqlite_master|all_tables|user_tables|dba_users|pg_shadow|char\s*\(\s*\d+\s*(?:,|\))|chr\s*\(\s*\d+|concat(?:_ws)?\s*\(|group_concat\s*\(|@@(?:version|datadir|hostname|basedir|tmpdir|user)|version\s*\(\s*\)|database\s*\(\s*\)|current_user\b|session_user\b|system_user\b|user\s*\(\s*\)|schema\s*\(\s*\)|ascii\s*\(\s*substr|substring\s*\(|mid\(|hex\(|unhex\s*\(|ord\(|cast\(|convert\(|iif\s*\(|if\(.*,.*,|case\s+when\b|into\s+(?:out|dump)file|procedure\s+analyse|load\s+data\s+infile|\bexec(?:ute)?\s+(?:master|xp_|sp_|immediate)|\bdeclare\s+@|\bshutdown\b(?:\s+with)?|0x[0-9a-f]{6,})"
    ),
    r!(
        "942140",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"\b(?:order|group)\s+by\s+(?:\d+|[\w`\x22.]+)\s*(?:--|#|;|,|\)|asc\b|desc\b|$)|\bhaving\s+[\w'\x22(]+\s*(?:=|<|>|like)|\blimit\s+\d+\s*(?:,|offset)\s*\d+|;\s*(?:select|insert|update|delete|drop|create|alter|exec|execute|declare|shutdown|truncate|grant|revoke|set|use|begin|commit|rollback|waitfor|backup|restore)\b"
    ),
    r!(
        "942150",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"['\x22`]\s*(?:\|\||&&|\+|\*|/|%|\^|<<|>>|=|<|>|!|\bdiv\b|\bmod\b|\bis\b|\blike\b|\bin\b|\bbetween\b|\bcollate\b)\s*[\w('\x22`@-]|\b(?:or|and)\s+(?:true|false|null|not|exists|select|\d+\s*(?:--|#|$|;))\b|\bnull\s+is\s+null|\bis\s+not\s+null\b.*--"
    ),
    r!(
        "942160",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"[\w'\x22)]\s*(?:=|<|>)\s*[\w'\x22(]+\s*(?:--|#|;)|\)\s*(?:--|#|;|union\b)|\b\d+\s*(?:=|<>|!=|<|>)\s*\d+\s*(?:--|#|;|$)|@\w+\s*:?=|\b(?:true|false)\s*(?:--|#)"
    ),
    r!(
        "942170",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|or|and|not|nor|expr|elemmatch|func)\b"
    ),
    r!(
        "942180",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"['\x22`]\s*(?:or|and|xor|like|rlike|regexp|div|union|select|having|into|from|where|order|group|limit|not|in|is)\s+['\x22`\d(@-]|\b(?:select|from|where|union|order\s+by|group\s+by|having|limit|insert|update|delete|values|into|join)\b.*\b(?:select|from|where|union|order\s+by|group\s+by|having|limit|and|or|values|set|like|in|join)\b.*['\x22`(=@]"
    ),
    r!(
        "942190",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"['\x22`]\s*\)|\(\s*['\x22`]|['\x22`]\s*[,;]\s*['\x22`]?\s*\w|\w+\s*\(\s*\)\s*(?:--|#|;)|@@\w+|\bnull\b\s*(?:,|\))|\b(?:ifnull|isnull|nullif|coalesce|nvl|length|len|lower|upper|trim|replace|reverse|instr|locate|position|lpad|rpad|left|right|count|sum|avg|min|max|floor|ceil|rand|now|sysdate|md5|sha1|sha2|password|encode|decode|compress|uncompress|aes_encrypt|aes_decrypt|elt|field|find_in_set|make_set|exp|pow|sqrt|greatest|least|row_count|last_insert_id|connection_id|found_rows|uuid|json_\w+)\("
    ),
    r!(
        "942200",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"['\x22`]\s*(?:--|#|/\*)|\b(?:or|and|having|where|union|select)\b\s*(?:\(|['\x22`]|@)|\b\d+\s*(?:or|and)\s+\d+|['\x22`][^'\x22`]*['\x22`]\s*(?:=|<|>|!=|like)"
    ),
    r!(
        "942210",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"(?:'\s*'|\x22\s*\x22)\s*\w|\w\s*(?:'\s*'|\x22\s*\x22)|(?:\|\||&&)\s*['\x22(\d]|\bxor\b|\brlike\b|\bsounds\s+like\b|\bregexp\s+['\x22^]|\bwhere\s+[\w.`\x22]+\s*(?:=|<|>|like|in\b)|\bfrom\s+[\w.`\x22]+\s+where\b|\bselect\s+[\w.`\x22]+\s*,"
    ),
    r!(
        "942220",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"^\s*-?\d+\s*(?:--|#|;|'|\x22|\)|\bor\b|\band\b|\bunion\b|\bhaving\b|\border\b|\bgroup\b|\blimit\b|\bprocedure\b|\binto\b)|^(?:21474836\d\d|42949672\d\d|-21474836\d\d|1\.7976931348623\d+e\+?308|2\.2250738585072\d+e-308)"
    ),
    r!("942230", Sqli, 3, Sql, VALS | H, r"['\x22`;]|--|/\*"),
    r!(
        "942240",
        Sqli,
        3,
        Sql,
        VALS | H,
        r"\b(?:select|union|insert|update|delete|drop|alter|create|exec|where|from|having|order|group)\b"
    ),
    r!(
        "942101",
        Sqli,
        1,
        Sql,
        P,
        r"['\x22`\d)]\s*(?:or|and|xor|\|\||&&)\s+['\x22`(]*\s*[\w@'\x22`.-]+['\x22`)]*\s*(?:=|<|>|!=|\blike\b)|\bunion\s*(?:all\s*|distinct\s*)?select\b|\b(?:sleep|benchmark|pg_sleep)\s*\(|\bwaitfor\s+delay\b|\bif\s*\(.*\bsleep\s*\(|\bsysdate\s*\(|['\x22`]\s*\+\s*sleep\b"
    ),
    r!(
        "942102",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"\b(?:database|db_name|schema_name|user_name|suser_name|strcmp|object_id|object_name|col_name|host_name|is_srvrolemember|has_dbaccess|pg_read_file|pg_ls_dir|current_setting|query_to_xml|lo_get|lo_import|lo_export|make_set|elt|exp|json_extract|jsonb_\w+|json_\w+|to_jsonb?|xp_\w+|utl_\w+|dbms_\w+|ctxsys\.\w+|sys\.\w+)\s*\(|\b(?:tempdb|msdb|mysql\.db|northwind|pg_catalog|sysibm|sysmaster|sqlite_\w+)\b|::\s*(?:int|integer|text|varchar|char|jsonb?|bigint|numeric|regclass|bool|boolean|bytea|oid)\b|union(?:all|distinct)?select|['\x22`]\s*(?:union\s+(?:all\s+)?select|select\s+[\w*@(]|insert\s+into|update\s+[\w`]+\s+set|delete\s+from|drop\s+(?:table|database)|exec(?:ute)?\s+\w|declare\s+@)|\bif\s*\([^,)]*=|\)\s*(?:like|rlike|regexp)\s*\(|\bwhen\s+[\w'\x22]+\s+then\b|\bcase\s+when\b|\bin\s*\(\s*select\b|\bas\s+['\x22`]\w+['\x22`]\s+from\b|\bset\s+@@?\w+|\bgroup_concat\b|\bhaving\s+\d"
    ),
    r!(
        "942103",
        Sqli,
        2,
        Sql,
        VALS | H | P,
        r"!=|&&|\|\||>=|>>|<<|<=>?|<>|==\s*[\w'\x22(]|->|\b(?:xor|regexp|rlike|isnull|notnull|glob)\b|\bis\s+(?:not\s+)?null\b|\blike\s+(?:null|['\x22])|(?:^|\W)in\s*\(\s*[\s\x22'\d,-]*\d|\bnot\s+between\b|\b(?:or|and)\s+[\w.@]+\s*(?:!=|==\s*[\w'\x22(]|=|<>|<|>|\blike\b)\s*['\x22(\d]|\b(?:or|and)\s*$|\(\s*select\b|\w+\s*\(\s*\w+\s*\)\s*::|['\x22`]\s*(?:regexp|rlike|like|glob)\s|--\s*(?:alter|drop|select|insert|update|delete)\b|\d(?:or|and)\d"
    ),
    r!(
        "942281",
        Sqli,
        1,
        Sql,
        VALS | H,
        r"\bselect\s+(?:pg_sleep|sleep|benchmark|version|user|database|load_file|current_user|@@\w+)\b|\w['\x22`]\s*(?:or|and|xor)\s*['\x22`]\w"
    ),
    r!(
        "942411",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"\b(?:abs|acos|ascii|asin|atan2?|avg|bin|bit_and|bit_count|bit_length|bit_or|bit_xor|cast|ceil|ceiling|char|char_length|character_length|charset|chr|coalesce|collation|compress|concat|concat_ws|connection_id|conv|convert|cos|cot|count|crc32|curdate|current_date|current_time|current_timestamp|current_user|curtime|database|date|date_add|date_format|date_sub|datediff|day|dayname|dayofmonth|dayofweek|dayofyear|decode|degrees|des_decrypt|des_encrypt|elt|encode|encrypt|exp|export_set|extract|field|find_in_set|floor|format|found_rows|from_base64|from_days|from_unixtime|get_lock|greatest|group_concat|hex|hour|if|ifnull|in|inet_aton|inet_ntoa|insert|instr|interval|is_free_lock|is_used_lock|isnull|last_insert_id|lcase|least|left|length|ln|load_file|local|localtime|localtimestamp|locate|log|log10|log2|lower|lpad|ltrim|make_set|makedate|maketime|master_pos_wait|max|md5|microsecond|mid|min|minute|mod|month|monthname|name_const|now|nullif|oct|octet_length|old_password|ord|password|period_add|period_diff|pi|position|pow|power|quarter|quote|radians|rand|release_lock|repeat|replace|reverse|right|round|row_count|rpad|rtrim|schema|sec_to_time|second|session_user|sha1?|sha2|sign|sin|sleep|soundex|space|sqrt|std|stddev|strcmp|str_to_date|subdate|substr|substring|substring_index|subtime|sum|sysdate|system_user|tan|time|time_format|time_to_sec|timediff|timestamp|timestampadd|timestampdiff|to_base64|to_days|trim|truncate|ucase|uncompress|uncompressed_length|unhex|unix_timestamp|upper|user|utc_date|utc_time|utc_timestamp|uuid|uuid_short|values|variance|version|week|weekday|weekofyear|year|yearweek)[\\/?\]=.]*\(\s*(?:[^\w\s]|\w+\s*[^\w\s:]|\w+\s*$|$)"
    ),
    r!(
        "942412",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"\b(?:floor|ceil|ceiling|compress|uncompress|uncompressed_length|ln|log10|log2|sqrt|concat|concat_ws|substr|substring|substring_index|ifnull|nullif|coalesce|lpad|rpad|ltrim|rtrim|ucase|lcase|unhex|hex|md5|sha1|sha2|crc32|rand|datediff|date_add|date_sub|date_format|str_to_date|from_base64|to_base64|group_concat|char_length|octet_length|bit_length|strcmp|soundex|elt|make_set|export_set|find_in_set|inet_aton|inet_ntoa|benchmark|sleep|pg_sleep|load_file|extractvalue|updatexml|name_const|get_lock|release_lock|master_pos_wait|sys_eval|sys_exec|utl_inaddr|dbms_\w+)\s+\(\s*(?:[^\w\s]|\w+\s*[^\w\s:]|\w+\s*$|$)"
    ),
    r!(
        "942362",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"(?:\)|['\x22`]|\d|!)\s*as\s*['\x22`]?\s*\w*\s*['\x22`]?\s*from\b|['\x22`]\s*(?:alter|select|insert|update|delete|drop|create|exec|truncate|rename|desc|load|merge|shutdown|grant|revoke|handler)\s+\w"
    ),
    r!(
        "942380",
        Sqli,
        2,
        Sql,
        VALS | H,
        r"\border\s+by\b|\bgroup\s+by\b|\bexecute\s+\w|\bhaving\s+[\w(]+\s*(?:=|<|>|\blike\b|\()|\b(?:n?varchar|nchar|varbinary|msdasql|sqloledb|openquery|dbo\.\w+)\b|['\x22`]\s*(?:[|&^+*/-]|\bor\b|\band\b|\bnot\b|\blike\b)\s*\S*(?:\s+\S+)?\s*--|(?:\\|\b)0x[0-9a-f]{4,}"
    ),
    r!("942440", Sqli, 2, Text, VALS | H, r"/\*.*?\*/|/\*!"),
    // ---- 913, 920, 921: scanners and protocol ----
    r!(
        "913100",
        Protocol,
        1,
        Text,
        H,
        r"^(?:nikto|sqlmap|nessus|nmap|masscan|zgrab|wpscan|dirbuster|gobuster|acunetix|netsparker|w3af|arachni|openvas|nuclei|havij|zmeu|morfeus|jaascois|paros|webinspect|appscan|burp|skipfish|wapiti|whatweb|fimap|grabber|brutus|bsqlbf|commix|xsser|nsauditor|pangolin|absinthe|dotdotpwn|zap|floodgate|crowdstrike|mysqloit|metis|internet\s+ninja)\b|\b(?:nikto|sqlmap|nessus|nmap\s+scripting|masscan|zgrab|wpscan|dirbuster|gobuster|acunetix|netsparker|w3af|arachni|openvas|nuclei|havij|zmeu|morfeus\s+fucking|paros|webinspect|appscan|skipfish|wapiti|commix|xsser|nsauditor|pangolin|dotdotpwn|mysqloit|masscan|fimap|brutus|bsqlbf|sf\s*scan|blackwidow|webshag|w3af\.org|zollard|jorgee|sitelockspider|\(hydra\)|evilscanner|fuzz\s+faster)\b"
    ),
    r!(
        "921110",
        Protocol,
        1,
        Text,
        VALS,
        r"(?:^|[\n\r])\s*(?:get|post|head|put|delete|options|trace|connect|patch|propfind|move|copy|lock|unlock|mkcol)\s+[^\s]+\s+http/\d|[\n\r]\s*(?:host|content-length|content-type|transfer-encoding|set-cookie|location|connection)\s*:"
    ),
    r!(
        "921130",
        Protocol,
        1,
        Text,
        VALS,
        r"\bhttp/\d(?:\.\d)?\b.*(?:[\n\r]|$)|<\s*html\b|\bcontent-(?:type|length)\s*:"
    ),
    r!("921150", Protocol, 1, Text, N, r"[\n\r]"),
    r!(
        "921160",
        Protocol,
        1,
        Text,
        VALS | N,
        r"[\n\r]+\s*(?:set-cookie|cookie|location|refresh|content-(?:type|length|disposition)|x-xss-protection|status|(?:x-)?forwarded(?:-(?:for|host|server))?|host|via|remote-ip|remote-addr|originating-ip|x-real-ip)\s*:"
    ),
    r!(
        "921200",
        Protocol,
        1,
        Text,
        VALS | N,
        r"\)\s*\(\s*[|&!]?\s*(?:[\w.-]+\s*[~<>]?=|\||&|!)|\)\s*\(\s*[|&!]\s*$|^\*?\)\s*[!(|&]|\*\)\s*\(|\(\s*[|&]\s*\(\s*[\w.-]+\s*="
    ),
    r!("921151", Protocol, 2, Text, A, r"[\n\r]\s*[\w.-]+="),
    r!("921190", Protocol, 1, Text, P, r"[\n\r]"),
    r!("921240", Protocol, 1, Text, VALS | N, r"\bunix:[^|]*\|"),
    r!("921180", Protocol, 3, Text, N, r"\[\s*\]\s*\["),
];
