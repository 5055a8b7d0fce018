"""The CLI's help texts in Chinese, keyed by the English text the commands declare.

`sfm --help` and every command's help come from here in Chinese mode (the default);
a test fails when a command or option declares a help text this table lacks.
"""

HELP_ZH: dict[str, str] = {
    "Monitor of Beijing's designated smart factories (Article 12 of the 2025 measures).": (
        "北京市智能工厂认定监测（《北京市智能工厂认定管理办法》第十二条）。"
    ),
    "A head kept elsewhere (the weekly overview), with --length.": (
        "另行保存的链头（如每周概况中的），与 --length 一起使用。"
    ),
    "The chain's length beside that head.": "与该链头对应的链长度。",
    "Config file (default config/sfm.toml, or SFM_CONFIG).": (
        "配置文件（默认 config/sfm.toml，或环境变量 SFM_CONFIG）。"
    ),
    "The daemon's socket (default SFM_SOCKET, or the config's).": (
        "守护进程的套接字（默认取环境变量 SFM_SOCKET，或配置中的设置）。"
    ),
    "Every decision and flag transition: who, when, from, to, why.": (
        "全部决定与标记状态变化：何人、何时、由何到何、理由。"
    ),
    "One credit code.": "一个统一社会信用代码。",
    "Print JSON only.": "只输出 JSON。",
    "Run the connectors now over every active factory (or one) and store what they say.": (
        "立即查询全部在册企业（或一家）的各数据源，并保存结果。"
    ),
    "registration, credit or safety.": "registration（登记）、credit（信用）或 safety（安全）。",
    "Print the summary as JSON only.": "只以 JSON 输出汇总。",
    "Serve the demo upstream over HTTP until interrupted.": "以 HTTP 提供演示数据源，直到中断。",
    "TCP port on 127.0.0.1.": "127.0.0.1 上的 TCP 端口。",
    "Answer unknown codes with an active company.": "对未知代码回答一家存续企业。",
    "Measures in force, recent sweeps, connector health, flags and the outbox.": (
        "现行办法、近期核查、数据源状况、标记与待发通知。"
    ),
    "JSON only.": "只输出 JSON。",
    "The daemon: sweeps, alerts, digests, reminders and the regulatory calendar on schedule.": (
        "守护进程：按计划核查、通知、汇总、提醒，并执行办法规定的日程。"
    ),
    "Run every job that is due, in pipeline order, and exit.": "按流程顺序运行所有到期任务后退出。",
    "If another daemon leads, wait and take over.": (
        "如已有守护进程在运行，则等待并在其退出后接替。"
    ),
    "Write sfm.toml and authorities.toml (commented, no secrets) into DIR.": (
        "在 DIR 中写入带注释、不含密钥的 sfm.toml 和 authorities.toml。"
    ),
    "The folder to write.": "写入的目录。",
    "Where the database and reports live.": "数据库和报表所在目录。",
    "Walk the audit's hash chain; name the first entry changed, removed or out of place.": (
        "逐条核验审计哈希链，指出第一条被改动、删除或错位的记录。"
    ),
    "The service's OS user: owns the state folder and secrets.": (
        "服务的操作系统用户：状态目录和密钥文件归其所有。"
    ),
    "The OS group whose members may decide.": "其成员可作出决定的操作系统用户组。",
    "For an image: /healthz on, secrets from its env.": (
        "用于容器镜像：开启 /healthz，密钥取自容器环境变量。"
    ),
    "Database schema.": "数据库结构。",
    "Create or upgrade the database schema to this version of sfm.": (
        "创建数据库结构，或升级到本版本 sfm 所需的结构。"
    ),
    "Configuration.": "配置。",
    "Validate the config and print it with secrets masked.": "检查配置，并在隐去密钥后显示。",
    "The register of designated factories.": "已认定智能工厂名册。",
    "Import designated factories (English or Chinese headers), all or nothing.": (
        "导入已认定企业（中文或英文表头），全部成功才写入。"
    ),
    "CSV (UTF-8, BOM, GB18030) or XLSX file.": "CSV（UTF-8、带 BOM 或 GB18030）或 XLSX 文件。",
    "Check and report; write nothing.": "只检查并报告，不写入。",
    "List the register.": "列出名册。",
    "Code, name or pinyin.": "区划代码、名称或拼音。",
    "basic/advanced or 基础级/先进级.": "基础级/先进级（或 basic/advanced）。",
    "One factory with its designation history.": "一家企业及其认定记录。",
    "Record the municipal bureau's approval of a name change.": "登记市经济和信息化局批准的更名。",
    "The new registered name.": "新的登记名称。",
    "Date the bureau approved.": "批准日期。",
    "Approval document number.": "批准文号。",
    "Record the revocation of a designation.": "登记撤销认定的决定。",
    "Record a move inside Beijing (Article 4): routing, scope and filings follow it.": (
        "登记北京市内的区变更（第四条）：此后的通知、处理权限和备案报送随之变更。"
    ),
    "The district it moved to.": "迁入的区。",
    "Add what your office found to a flag, without deciding it.": (
        "为标记补充本单位的核实情况（不作决定）。"
    ),
    "What your office found.": "本单位的核实情况。",
    "Date of the move.": "变更日期。",
    "Document number.": "文号。",
    "Date of the decision.": "决定日期。",
    "Decision document number.": "决定文号。",
    "Why (the clause and facts).": "理由（条款和事实）。",
    "Flags raised by the rules, and staff decisions on them.": (
        "规则提出的标记，以及工作人员的处理。"
    ),
    "Flags, newest first.": "标记，最新的在前。",
    "待处理/已确认/… or open/confirmed/…": "待处理/已确认/…（或 open/confirmed/…）",
    "A rule's name or id.": "规则名称或编号。",
    "基础级/先进级 or basic/advanced": "基础级/先进级（或 basic/advanced）",
    "疑似撤销情形/待核查/待办理 or revocation/…": "疑似撤销情形/待核查/待办理（或 revocation/…）",
    "0: all": "0 表示全部",
    "One flag: evidence, history and audit trail.": "一条标记：证据、经过和处理记录。",
    "Confirm an open flag: the condition is real and the bureau must act.": (
        "确认一条待处理标记：情况属实，需作出决定。"
    ),
    "Why (required, kept in the audit).": "理由（必填，记入处理记录）。",
    "Dismiss an open flag: it stays dismissed while its evidence is unchanged.": (
        "排除一条待处理标记：证据不变时保持排除。"
    ),
    "Reopen a dismissed or cleared flag.": "重新打开已排除或已消除的标记。",
    "Raise a flag under any clause, for evidence that reached you outside the connectors.": (
        "依任一条款提出标记，用于数据源以外获得的证据。"
    ),
    "Any clause's rule, e.g. art12.1-false-information.": (
        "任一条款的规则，如“申请中提供虚假信息或其他违法行为”。"
    ),
    "Alerts to the authorities: the outbox and its delivery.": (
        "发给主管部门的通知：待发通知及其发送。"
    ),
    "The outbox, newest first.": "待发通知，最新的在前。",
    "Only alerts that gave up.": "只列出已放弃发送的通知。",
    "Send everything due now, then exit: 0 when all went out, 1 when any did not.": (
        "立即发送所有到期通知后退出：全部发出返回 0，否则返回 1。"
    ),
    "Give failed alerts a new retry budget and send them now.": (
        "为发送失败的通知重新计数并立即发送。"
    ),
    "Every failed alert.": "全部发送失败的通知。",
    "Bundle held review/action alerts into one digest per authority and send them.": (
        "将待核查、待办理事项按主管部门汇总为每日汇总并发送。"
    ),
    "Remind about open flags past their deadline; escalate the oldest; send.": (
        "提醒逾期未处理的标记，将最久未处理的报市经济和信息化局，并发送。"
    ),
    "Check the notification channels.": "检查通知渠道。",
    "Send a test message to one authority's URLs and report each URL's result.": (
        "向一个主管部门的各通知地址发送测试消息，并报告每个地址的结果。"
    ),
    "municipal, ops, or a district (code/name).": (
        "municipal（市局）、ops（运维）或一个区（代码或名称）。"
    ),
    "Reports for officials.": "报送材料。",
    "Every flag as a spreadsheet for reports (Chinese headers; SFM_LANG=en for English).": (
        "将全部标记导出为表格（中文表头；SFM_LANG=en 为英文）。"
    ),
    "csv or xlsx (default: from OUT's extension)": "csv 或 xlsx（默认按输出文件的扩展名）",
    "Article 6: basic-level factories filed in a quarter, their open flags and decisions.": (
        "第六条：一个季度内备案的基础级智能工厂，及其待处理标记和处理决定。"
    ),
    "e.g. 2026Q4": "如 2026Q4",
    "One district (code or name).": "一个区（代码或名称）。",
    "Show this message and exit.": "显示本帮助并退出。",
}

# click's usage errors, as it words them in English, and in Chinese; a message none of these
# matches is shown as click wrote it. Matched against the whole message, in order.
USAGE_ERRORS_ZH: tuple[tuple[str, str], ...] = (
    (
        r"No such option: (?P<name>\S+)(?:\s+Did you mean (?P<maybe>\S+)\?)?",
        "没有选项 {name}{maybe}",
    ),
    (
        r"No such option: (?P<name>\S+) \(Possible options: (?P<options>.*)\)",
        "没有选项 {name}（可用的选项：{options}）",
    ),
    (r"No such option '(?P<name>[^']+)'\.", "没有选项 {name}"),
    (r"No such command '(?P<name>[^']+)'\.", "没有命令 {name}"),
    (r"Missing argument '(?P<name>[^']+)'\.", "缺少参数 {name}"),
    (r"Missing option '(?P<name>[^']+)'\.", "缺少选项 {name}"),
    (r"Missing parameter '(?P<name>[^']+)'\.", "缺少参数 {name}"),
    (r"Missing command\.", "缺少命令"),
    (r"Got unexpected extra arguments? \((?P<args>.*)\)", "多余的参数：{args}"),
    (r"Option '(?P<name>[^']+)' requires an argument\.", "选项 {name} 需要一个值"),
    (r"Option '(?P<name>[^']+)' requires (?P<n>\d+) arguments\.", "选项 {name} 需要 {n} 个值"),
    (r"Option '(?P<name>[^']+)' does not take a value\.", "选项 {name} 不接受值"),
    (
        r"Invalid value for '(?P<name>[^']+)': '(?P<value>.*)' is not a valid integer\.",
        "{name} 的值“{value}”不是整数",
    ),
    (
        r"Invalid value for '(?P<name>[^']+)': '(?P<value>.*)' is not a valid float\.",
        "{name} 的值“{value}”不是数字",
    ),
    (
        r"Invalid value for '(?P<name>[^']+)': (?:File|Path|Directory) '(?P<value>.*)' "
        r"does not exist\.",
        "{name}：文件“{value}”不存在",
    ),
    (
        r"Invalid value for '(?P<name>[^']+)': '.*' is not a valid int\.",
        "{name} 应为整数",
    ),
    (r"Invalid value for '(?P<name>[^']+)': (?P<detail>.*)", "{name} 的值无效：{detail}"),
)
