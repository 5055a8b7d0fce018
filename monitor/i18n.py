"""Text shown to officials and staff: Simplified Chinese by default, English with SFM_LANG=en.

Messages are looked up by key so that errors can be raised as data (key and
parameters) and rendered in the reader's language only when shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from monitor.vocabulary import RULES

SUPPORTED = ("zh", "en")

CATALOG: dict[str, dict[str, str]] = {
    # credit codes
    "code.empty": {"zh": "统一社会信用代码为空", "en": "the credit code is empty"},
    "code.length": {
        "zh": "统一社会信用代码应为 18 位，实为 {length} 位",
        "en": "a credit code has 18 characters, this one has {length}",
    },
    "code.charset": {
        "zh": "第 {position} 位字符“{char}”不允许出现在统一社会信用代码中（不使用 I、O、S、V、Z）",
        "en": "character {position} '{char}' is not allowed in a credit code (no I, O, S, V, Z)",
    },
    "code.division": {
        "zh": "第 3–8 位应为数字（登记管理机关行政区划码），实为“{digits}”",
        "en": "characters 3–8 must be digits (the division code), got '{digits}'",
    },
    "code.check": {
        "zh": "校验码错误：第 18 位应为“{expected}”，实为“{actual}”",
        "en": "bad check character: character 18 should be '{expected}', got '{actual}'",
    },
    # districts, levels, dates
    "district.unknown": {
        "zh": "未知的区“{value}”"
        "（可填区划代码、区名、简称或拼音，如 110108、海淀区、海淀、Haidian）",
        "en": "unknown district '{value}' (give a code, name, short name or pinyin, "
        "e.g. 110108, 海淀区, 海淀, Haidian)",
    },
    "level.unknown": {
        "zh": "未知的级别“{value}”（应为 基础级/先进级 或 basic/advanced）",
        "en": "unknown level '{value}' (expected basic/advanced or 基础级/先进级)",
    },
    "date.invalid": {
        "zh": "无法识别的日期“{value}”（应为 2025-06-30、2025/6/30 或 2025年6月30日）",
        "en": "unrecognised date '{value}' (expected 2025-06-30, 2025/6/30 or 2025年6月30日)",
    },
    "date.future": {
        "zh": "日期 {value} 晚于今天",
        "en": "date {value} is later than today",
    },
    "value.missing": {"zh": "缺少必填值", "en": "a required value is missing"},
    # import
    "import.missing_column": {
        "zh": "缺少列“{column}”（或英文列名 {english}）",
        "en": "missing column '{english}' (or its Chinese name {column})",
    },
    "import.duplicate_column": {
        "zh": "列“{column}”出现了不止一次",
        "en": "column '{column}' appears more than once",
    },
    "import.duplicate_code": {
        "zh": "统一社会信用代码 {code} 的同一认定（级别、工厂）在本文件中重复"
        "（首次出现在第 {first_row} 行）",
        "en": "credit code {code} has the same designation (level, factory) twice in this file "
        "(first on row {first_row})",
    },
    "import.encoding": {
        "zh": "无法识别文件编码（支持 UTF-8、带 BOM 的 UTF-8、GB18030 和 Big5）",
        "en": "cannot decode the file (UTF-8, UTF-8 with BOM, GB18030 and Big5 are supported)",
    },
    "import.encoding_uncertain": {
        "zh": "无法确定文件编码（可能是：{candidates}），未导入；请另存为 UTF-8 后重试",
        "en": "the file's encoding is uncertain (it may be {candidates}); nothing imported: "
        "save it as UTF-8 and try again",
    },
    "topic.registration": {"zh": "登记", "en": "registration"},
    "topic.credit": {"zh": "信用", "en": "credit"},
    "topic.safety": {"zh": "安全", "en": "safety"},
    "error_kind.timeout": {"zh": "超时", "en": "timeout"},
    "error_kind.connection": {"zh": "连接失败", "en": "connection"},
    "error_kind.http_5xx": {"zh": "服务端错误", "en": "HTTP 5xx"},
    "error_kind.http_429": {"zh": "访问过快", "en": "HTTP 429"},
    "error_kind.http_status": {"zh": "异常应答", "en": "HTTP status"},
    "error_kind.bad_json": {"zh": "应答格式错误", "en": "bad JSON"},
    "error_kind.schema_mismatch": {"zh": "应答与映射不符", "en": "schema mismatch"},
    "error_kind.too_large": {"zh": "应答超出限制", "en": "over the limits"},
    "error_kind.bad_file": {"zh": "文件无法读取", "en": "bad file"},
    "error_kind.mismatch": {"zh": "应答非所查企业", "en": "another company's record"},
    "error_kind.unstorable": {"zh": "应答无法保存", "en": "could not be stored"},
    "error_kind.internal": {"zh": "内部错误", "en": "internal"},
    "col.designations": {"zh": "所获认定", "en": "Designations"},
    "col.factory": {"zh": "工厂", "en": "Factory"},
    "config.env_unset": {
        "zh": "{source}：{key}：环境变量 {name} 未设置",
        "en": "{source}: {key}: environment variable {name} is not set",
    },
    "config.not_toml": {
        "zh": "{path}：不是有效的 TOML：{detail}",
        "en": "{path}: not valid TOML: {detail}",
    },
    "config.unreadable": {
        "zh": "{path}：无法读取：{detail}",
        "en": "{path}: cannot read: {detail}",
    },
    "config.not_found": {"zh": "{path}：文件不存在", "en": "{path}: file not found"},
    "config.env_file_missing": {
        "zh": "{key}：密钥文件 {path} 不存在（sfm init 会写一个空的，权限 0600）",
        "en": "{key}: the secrets file {path} does not exist (sfm init writes an empty one, 0600)",
    },
    "config.env_file_denied": {
        "zh": "{key}：无权读取密钥文件 {path}：它属于 {owner}，请以该用户身份运行"
        "（runuser -u {owner} -- sfm …）",
        "en": "{key}: not allowed to read the secrets file {path}: it is {owner}'s; run as that "
        "user (runuser -u {owner} -- sfm …)",
    },
    "config.short_secret": {
        "zh": "警告：${name} 的值短于 {length} 个字符，容易被猜中（仍会在各处隐藏）",
        "en": "warning: ${name} is shorter than {length} characters and easy to guess "
        "(it is masked all the same)",
    },
    "config.unknown_key": {"zh": "未知的配置项", "en": "unknown key"},
    "config.missing_key": {"zh": "缺少必填项", "en": "required key is missing"},
    "config.not_integer": {"zh": "应为整数", "en": "should be an integer"},
    "config.not_number": {"zh": "应为数字", "en": "should be a number"},
    "config.not_boolean": {"zh": "应为 true 或 false", "en": "should be true or false"},
    "config.not_text": {"zh": "应为文本", "en": "should be text"},
    "config.at_least": {"zh": "应不小于 {ge}", "en": "should be at least {ge}"},
    "config.more_than": {"zh": "应大于 {gt}", "en": "should be more than {gt}"},
    "config.at_most": {"zh": "应不大于 {le}", "en": "should be at most {le}"},
    "config.one_of": {"zh": "应为以下之一：{expected}", "en": "should be one of {expected}"},
    "config.not_date": {
        "zh": "应为日期（如 2025-04-29）",
        "en": "should be a date (e.g. 2025-04-29)",
    },
    "config.invalid": {"zh": "取值无效（{detail}）", "en": "invalid ({detail})"},
    "import.not_xlsx": {
        "zh": "文件扩展名为“{suffix}”，但内容不是 Excel 工作簿（可能是改了扩展名的其他文件），"
        "请在 Excel 中另存为 .xlsx 或 .csv",
        "en": "the file is named '{suffix}' but is not an Excel workbook (perhaps another "
        "file renamed); save it from Excel as .xlsx or .csv",
    },
    "export.no_folder": {
        "zh": "输出目录 {folder} 不存在，未写入任何文件",
        "en": "the folder {folder} does not exist; nothing was written",
    },
    "export.format_mismatch": {
        "zh": "--format {fmt} 与文件扩展名“{suffix}”不符，未写入任何文件",
        "en": "--format {fmt} contradicts the file name's '{suffix}'; nothing was written",
    },
    "export.unknown_format": {
        "zh": "无法从文件名“{name}”判断格式，请使用 .csv 或 .xlsx 扩展名，或用 --format 指定",
        "en": "cannot tell the format from '{name}': name it .csv or .xlsx, or give --format",
    },
    "import.format": {
        "zh": "不支持的文件类型“{suffix}”（支持 .csv 和 .xlsx）",
        "en": "unsupported file type '{suffix}' (.csv and .xlsx are supported)",
    },
    "import.unreadable": {"zh": "无法读取文件：{detail}", "en": "cannot read the file: {detail}"},
    "import.empty": {"zh": "文件中没有数据行", "en": "the file has no data rows"},
    "import.rejected": {
        "zh": "{file}：发现 {count} 处错误，整个文件未导入，数据库未作任何修改。",
        "en": "{file}: {count} error(s); nothing was imported and the database is unchanged.",
    },
    "import.summary": {
        "zh": "{file}：新增 {added} 家，更新 {updated} 家，未变 {unchanged} 家。",
        "en": "{file}: {added} added, {updated} updated, {unchanged} unchanged.",
    },
    "import.nothing_changed": {
        "zh": "{file}：与登记册完全一致，未作任何修改（{unchanged} 家）。",
        "en": "{file}: identical to the register, nothing changed ({unchanged} factories).",
    },
    "import.dry_run": {
        "zh": "（试运行：未写入数据库）",
        "en": "(dry run: nothing was written)",
    },
    # register
    "factory.not_found": {
        "zh": "登记册中没有统一社会信用代码为 {code} 的工厂",
        "en": "no designated factory with credit code {code}",
    },
    "factory.revoked_already": {
        "zh": "{code} 的认定已于 {revoked_on} 撤销",
        "en": "the designation of {code} was already revoked on {revoked_on}",
    },
    "factory.revoked_cannot_rename": {
        "zh": "{code} 的认定已于 {revoked_on} 撤销，不能再登记更名",
        "en": "the designation of {code} was revoked on {revoked_on}; a rename cannot be recorded",
    },
    "factory.same_name": {
        "zh": "{code} 的认定名称已是“{name}”",
        "en": "{code} is already designated as '{name}'",
    },
    "factory.date_before_designation": {
        "zh": "日期 {value} 早于认定日期 {designated_on}",
        "en": "date {value} is before the designation date {designated_on}",
    },
    "factory.renamed": {
        "zh": "已登记更名：{code} “{old}” → “{new}”",
        "en": "rename recorded: {code} '{old}' → '{new}'",
    },
    "factory.moved": {
        "zh": "已登记区变更：{code} {name}，{former} → {new}",
        "en": "move recorded: {code} {name}, {former} → {new}",
    },
    "factory.same_district": {
        "zh": "{code} 的认定已在{district}，无需变更",
        "en": "{code}'s designations are in {district} already",
    },
    "factory.revoked_cannot_move": {
        "zh": "{code} 的认定已于 {revoked_on} 撤销，不能再登记区变更",
        "en": "{code}'s designation was revoked on {revoked_on}: no move can be recorded",
    },
    "factory.revoked": {
        "zh": "已登记撤销认定：{code} {name}（{ref}）",
        "en": "revocation recorded: {code} {name} ({ref})",
    },
    "text.blank": {"zh": "{field} 不能为空", "en": "{field} must not be blank"},
    # database
    "db.behind": {
        "zh": "数据库结构版本为 {current}，本程序需要 {head}：请先运行 `sfm db upgrade`",
        "en": "the database schema is at {current}, sfm needs {head}: run `sfm db upgrade` first",
    },
    "db.ahead": {
        "zh": "数据库结构版本 {current} 比本程序新（{head}）：请升级 sfm",
        "en": "the database schema {current} is newer than this sfm ({head}): upgrade sfm",
    },
    "db.upgraded": {
        "zh": "数据库已升级到 {head}",
        "en": "database upgraded to {head}",
    },
    "db.current": {
        "zh": "数据库已是最新版本 {head}",
        "en": "database already at {head}",
    },
    # table headers and values
    "col.credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
    "col.name": {"zh": "企业名称", "en": "Name"},
    "col.level": {"zh": "级别", "en": "Level"},
    "col.district": {"zh": "所在区", "en": "District"},
    "col.designated_on": {"zh": "认定日期", "en": "Designated on"},
    "col.registered_address": {"zh": "注册地址", "en": "Registered address"},
    "col.status": {"zh": "状态", "en": "Status"},
    "col.event": {"zh": "事项", "en": "Event"},
    "col.occurred_on": {"zh": "日期", "en": "Date"},
    "col.recorded_at": {"zh": "记录时间", "en": "Recorded at"},
    "col.actor": {"zh": "操作人", "en": "By"},
    "col.reference": {"zh": "文号", "en": "Reference"},
    "col.details": {"zh": "说明", "en": "Details"},
    "level.basic": {"zh": "基础级", "en": "basic"},
    "level.advanced": {"zh": "先进级", "en": "advanced"},
    "status.active": {"zh": "有效", "en": "active"},
    "status.revoked": {"zh": "已撤销", "en": "revoked"},
    "event.designated": {"zh": "认定", "en": "designated"},
    "event.updated": {"zh": "信息更新", "en": "updated"},
    "event.renamed": {"zh": "更名", "en": "renamed"},
    "event.revoked": {"zh": "撤销认定", "en": "revoked"},
    "list.count": {"zh": "共 {count} 家", "en": "{count} factories"},
    "list.title": {"zh": "认定智能工厂登记册", "en": "Register of designated smart factories"},
    # sweeps
    "check.progress": {"zh": "查询中", "en": "checking"},
    "check.title": {
        "zh": "核查完成：{factories} 家工厂，用时 {seconds} 秒",
        "en": "Check finished: {factories} factories in {seconds} s",
    },
    "check.col.connector": {"zh": "数据源", "en": "Connector"},
    "check.col.topic": {"zh": "类别", "en": "Topic"},
    "check.col.found": {"zh": "查到", "en": "Found"},
    "check.col.not_found": {"zh": "查无此企业", "en": "Not found"},
    "check.col.errors": {"zh": "失败", "en": "Errors"},
    "check.col.changed": {"zh": "有变化", "en": "Changed"},
    # findings (a flag's summary)
    "finding.terminated": {
        "zh": "登记状态为“{raw_status}”（{registration_status}）：疑似被依法终止或无法正常经营",
        "en": "registration status is '{raw_status}' ({registration_status}): the enterprise "
        "may have been terminated or be unable to operate",
    },
    "finding.not_operating_status": {
        "zh": "登记状态为“{raw_status}”：可能不能正常生产经营",
        "en": "registration status is '{raw_status}': it may not be operating normally",
    },
    "finding.abnormal_operation": {
        "zh": "被{authority}于 {decided_on} 列入经营异常名录：{reason}",
        "en": "listed for abnormal operation by {authority} on {decided_on}: {reason}",
    },
    "finding.accident": {
        "zh": "{occurred_on} 发生{category}（等级：{grade}，死亡 {deaths} 人）：{summary}",
        "en": "{category} on {occurred_on} (grade {grade}, {deaths} deaths): {summary}",
    },
    "finding.prior_accident": {
        "zh": "认定日期前三年内 {occurred_on} 发生{category}（等级：{grade}，死亡 {deaths} 人）："
        "{summary}；申请时可能未如实说明",
        "en": "{category} on {occurred_on}, within three years before the designation (grade "
        "{grade}, {deaths} deaths): {summary}; the application may have withheld it",
    },
    "finding.prior_violation": {
        "zh": "认定日期前三年内的{kind}（{authority} {decided_on} {document_no}）：{reason}；"
        "申请时可能不符合“无不良信用记录……无违法违规行为”的条件",
        "en": "{kind} within three years before the designation ({authority} {decided_on} "
        "{document_no}): {reason}; the conditions of Article 5(3) may not have been met",
    },
    "finding.stopped_by_penalty": {
        "zh": "{authority} {decided_on} {document_no} 作出的处罚使企业不能正常生产经营：{reason}",
        "en": "a penalty by {authority} on {decided_on} ({document_no}) stops the enterprise "
        "operating: {reason}",
    },
    "finding.district_changed": {
        "zh": "登记信息显示企业已由{designated}迁至{named}（北京市内），需登记区变更",
        "en": "the registry shows the enterprise moved from {designated} to {named} (inside "
        "Beijing): record the change of district",
    },
    "finding.implausible_date": {
        "zh": "数据源给出的{field}“{value}”不可能成立（晚于今天或早于1949年），该记录未参与判断，"
        "需人工核实",
        "en": "the source's {field} '{value}' cannot be right (after today or before 1949); the "
        "record was left out of every rule: check by hand",
    },
    "finding.ungraded_accident": {
        "zh": "{occurred_on} 发生{category}，数据源未给出等级，也无伤亡或损失数字，"
        "需人工定级：{summary}",
        "en": "{category} on {occurred_on} with neither a grade nor figures; grade it by hand: "
        "{summary}",
    },
    "finding.unknown_value": {
        "zh": "无法识别的{field}“{text}”，记录已保留，需人工核实",
        "en": "unrecognised {field} '{text}': the record is kept; check by hand",
    },
    "finding.relocation_unconfirmed": {
        "zh": "迁出迹象需核实（去向不明或信息不一致）：{signs}",
        "en": "signs of a move to check (no destination known, or signs disagree): {signs}",
    },
    "field.kind": {"zh": "信用记录类型", "en": "credit record kind"},
    "field.category": {"zh": "事故类别", "en": "accident category"},
    "field.grade": {"zh": "事故等级", "en": "accident grade"},
    "field.occurred_on": {"zh": "事故发生日期", "en": "date of the accident"},
    "field.removed_on": {"zh": "移出（解除）日期", "en": "date of removal"},
    "field.fine_cny": {"zh": "罚款金额", "en": "fine"},
    "field.direct_loss_cny": {"zh": "直接经济损失", "en": "direct loss"},
    "field.division_code": {"zh": "行政区划代码", "en": "division code"},
    "field.deaths": {"zh": "死亡人数", "en": "deaths"},
    "field.serious_injuries": {"zh": "重伤人数", "en": "serious injuries"},
    "field.evacuated": {"zh": "疏散人数", "en": "evacuated"},
    "field.decided_on": {"zh": "决定（列入）日期", "en": "date of decision (or listing)"},
    "finding.relocated": {
        "zh": "登记信息显示在京外（{destination}），疑似注册地变更至京外",
        "en": "the registry shows a place outside Beijing ({destination}): the registered seat "
        "may have moved out of Beijing",
    },
    "finding.penalty": {
        "zh": "{authority} {decided_on} {document_no}（{kind}，罚款 {fine} 元）：{reason}",
        "en": "{authority} {decided_on} {document_no} ({kind}, fine ¥{fine}): {reason}",
    },
    "finding.penalty_fine_unknown": {
        "zh": "{authority} {decided_on} {document_no}（{kind}，罚款金额不详，需人工核实）："
        "{reason}",
        "en": "{authority} {decided_on} {document_no} ({kind}, fine not known: check by hand): "
        "{reason}",
    },
    "finding.listing": {
        "zh": "{authority} {decided_on} {document_no}（{kind}）：{reason}",
        "en": "{authority} {decided_on} {document_no} ({kind}): {reason}",
    },
    "finding.rename": {
        "zh": "登记名称已变更为“{registered}”（认定名称“{designated}”），尚未申请变更",
        "en": "registered name is now '{registered}' (designated as '{designated}'); "
        "no name change recorded",
    },
    "finding.restructure": {
        "zh": "企业类型由“{before}”变更为“{after}”，可能发生重组",
        "en": "entity type changed from '{before}' to '{after}': possible restructuring",
    },
    "finding.restructure_reported": {
        "zh": "登记信息显示企业发生合并或分立（“{raw_status}”），应向市经济和信息化局申请更名",
        "en": "the registry reports a merger or division ('{raw_status}'): the enterprise must "
        "apply to the municipal bureau",
    },
    "finding.unknown_status": {
        "zh": "无法识别的登记状态“{raw_status}”，需人工核实",
        "en": "unrecognised registration status '{raw_status}': check by hand",
    },
    "finding.not_found": {
        "zh": "数据源 {source} 查无此企业",
        "en": "source {source} has no such enterprise",
    },
    "finding.raised_by_staff": {
        "zh": "工作人员提出：{reason}",
        "en": "raised by staff: {reason}",
    },
    # flags
    "flag.not_found": {"zh": "没有编号为 {id} 的标记", "en": "no flag with id {id}"},
    "value.too_long": {
        "zh": "内容过长（{length} 个字符，最多 {limit} 个）",
        "en": "too long ({length} characters, at most {limit})",
    },
    "file.too_large": {
        "zh": "文件 {name} 超过 {limit_mb} MB，未处理",
        "en": "file {name} is over {limit_mb} MB; not processed",
    },
    "audit.intact": {
        "zh": "审计链完整：{length} 条记录，链头 {head}",
        "en": "the audit chain holds: {length} entries, head {head}",
    },
    "audit.unsealed": {
        "zh": "另有 {count} 条记录尚未封存进链（刚写入，或绕过触发器写入）",
        "en": "{count} more entries are not sealed into the chain yet (just written, or "
        "written behind the triggers' back)",
    },
    "audit.broken": {
        "zh": "审计链在第 {length} 条之后断开：{problem}",
        "en": "the audit chain breaks after {length} entries: {problem}",
    },
    "run.preflight": {
        "zh": "配置有 {count} 处问题，守护进程未启动：",
        "en": "the daemon did not start: {count} problem(s) in its configuration:",
    },
    "door.folder_denied": {
        "zh": "[daemon] socket {socket}：无法创建目录 {folder}（{detail}）。请以 root 身份创建："
        "{command}（systemd 服务的 RuntimeDirectory=sfm 会自动创建）",
        "en": "[daemon] socket {socket}: cannot create the folder {folder} ({detail}). As root, "
        "create it: {command} (the systemd unit's RuntimeDirectory=sfm does this)",
    },
    "door.denied": {
        "zh": "无权连接守护进程（{socket}）：只有已配置操作员所在的用户组可以连接",
        "en": "not allowed to reach the daemon ({socket}): only the operators' group may",
    },
    "door.lost": {
        "zh": "与守护进程的连接中断，命令结果未知；请用 sfm audit 或 sfm flags show 核对",
        "en": "the connection to the daemon was lost; the command's outcome is unknown "
        "(check with sfm audit or sfm flags show)",
    },
    "door.local_only": {
        "zh": "{command} 只能在本机直接运行，不经守护进程",
        "en": "{command} runs where it is typed, not through the daemon",
    },
    "door.not_owner": {
        "zh": "没有运行中的守护进程，而数据库 {path} 属于用户 {owner}：只有它可以直接打开数据库；"
        "请启动 sfm run，或以 {owner} 身份运行",
        "en": "no daemon is running and the database {path} belongs to {owner}: only that user "
        "may open it directly; start sfm run, or run as {owner}",
    },
    "operator.override_not_allowed": {
        "zh": "设置了 SFM_OPERATOR，但配置未设 allow_operator_override = true；"
        "请取消该变量，以操作系统用户身份操作",
        "en": "SFM_OPERATOR is set but the config does not set allow_operator_override = true; "
        "unset it to act as the OS user",
    },
    "flag.changed_meanwhile": {
        "zh": "标记 {id} 已不是{from_state}：在此期间已变为{now_state}，本次{to_state}未记录",
        "en": "flag {id} is no longer {from_state}: it became {now_state} meanwhile; "
        "{to_state} was not recorded",
    },
    "flag.transition_refused": {
        "zh": "标记 {id} 当前状态为 {from_state}，不能变为 {to_state}",
        "en": "flag {id} is {from_state}; it cannot become {to_state}",
    },
    "flag.not_raisable": {
        "zh": "规则 {rule} 不能人工提出（可人工提出的：{allowed}）",
        "en": "rule {rule} cannot be raised by staff (these can: {allowed})",
    },
    "flag.moved": {
        "zh": "标记 {id}：{from_state} → {to_state}",
        "en": "flag {id}: {from_state} → {to_state}",
    },
    "flag.raised": {"zh": "已提出标记 {id}", "en": "flag {id} raised"},
    "import.out_of_scope": {
        "zh": "{file} 第 {row} 行（{code}）：企业在{district}，"
        "不在操作员 {user} 的范围（{scope}）内，导入被拒绝，未写入任何记录",
        "en": "{file}, row {row} ({code}): a factory in {district} is outside operator {user}'s "
        "scope ({scope}); nothing was imported",
    },
    "import.contradicts_revocation": {
        "zh": "{file} 第 {row} 行（{code}）：该企业的认定已于 {revoked_on} 撤销"
        "（文号 {reference}），本行不能改动其记录；如已重新认定，请填写撤销之后的认定日期。"
        "未写入任何记录",
        "en": "{file}, row {row} ({code}): the designation was revoked on {revoked_on} "
        "(document {reference}); this row cannot change it (a new designation needs a date "
        "after the revocation). Nothing was imported",
    },
    "import.contradicts_rename": {
        "zh": "{file} 第 {row} 行（{code}）：名称“{name}”与已登记的更名（{on} 更名为“{recorded}”，"
        "文号 {reference}）不符，导入被拒绝，未写入任何记录",
        "en": "{file}, row {row} ({code}): the name '{name}' contradicts the rename recorded on "
        "{on} (to '{recorded}', document {reference}); nothing was imported",
    },
    "operator.unknown": {
        "zh": "操作系统用户 {user} 不是已配置的操作员（[operators.{user}]），操作被拒绝",
        "en": "OS user {user} is not a configured operator ([operators.{user}]); refused",
    },
    "operator.out_of_scope": {
        "zh": "操作员 {user} 的权限范围（{scope}）不包括 {district} 的企业，操作被拒绝",
        "en": "operator {user} (scope {scope}) may not decide for a factory in {district}",
    },
    "operator.bureau_decides": {
        "zh": "先进级企业的疑似撤销情形由北京市经济和信息化局决定；操作员 {user}（{scope}）"
        "可用 `sfm flags note` 补充核实情况",
        "en": "a revocation case of an advanced-level enterprise is the municipal bureau's to "
        "decide; operator {user} ({scope}) may add findings with `sfm flags note`",
    },
    "flag.noted": {"zh": "已为标记 {id} 添加核实情况", "en": "note added to flag {id}"},
    "audit.note": {"zh": "备注", "en": "note"},
    "operator.municipal_only": {
        "zh": "{what}须由市经济和信息化局的操作员办理，操作员 {user} 的范围是 {scope}",
        "en": "{what} is for an operator of the municipal bureau; {user} has scope {scope}",
    },
    "usage.usage": {"zh": "用法：", "en": "Usage: "},
    "filter.unknown": {
        "zh": "{option}：无法识别“{value}”，可选：{choices}",
        "en": "{option}: unknown value '{value}' (one of: {choices})",
    },
    "usage.try_help": {
        "zh": "运行 '{command} {option}' 查看帮助。",
        "en": "Try '{command} {option}' for help.",
    },
    "usage.error": {"zh": "错误：{message}", "en": "Error: {message}"},
    "usage.did_you_mean": {"zh": "（是否要用 {option}？）", "en": " (did you mean {option}?)"},
    "error.aborted": {"zh": "已取消", "en": "Aborted!"},
    "reason.required": {"zh": "必须填写 --reason", "en": "--reason is required"},
    # values inside findings
    "category.production_safety": {"zh": "生产安全事故", "en": "production safety accident"},
    "category.environmental": {"zh": "突发环境事件", "en": "environmental incident"},
    "category.quality": {"zh": "质量事故", "en": "quality accident"},
    "grade.especially_major": {"zh": "特别重大", "en": "especially major"},
    "grade.major": {"zh": "重大", "en": "major"},
    "grade.large": {"zh": "较大", "en": "large"},
    "grade.general": {"zh": "一般", "en": "general"},
    "registration_status.active": {"zh": "存续", "en": "active"},
    "registration_status.moved_out": {"zh": "迁出", "en": "moved out"},
    "registration_status.deregistered": {"zh": "已注销", "en": "deregistered"},
    "registration_status.license_revoked": {"zh": "营业执照被吊销", "en": "licence revoked"},
    "registration_status.cancelled": {"zh": "登记被撤销", "en": "registration cancelled"},
    "registration_status.suspended": {"zh": "停业", "en": "suspended"},
    "registration_status.liquidating": {"zh": "清算或破产", "en": "in liquidation"},
    "registration_status.unknown": {"zh": "无法识别", "en": "unrecognised"},
    "grade.unknown": {"zh": "未识别", "en": "unrecognised"},
    "category.unknown": {"zh": "未识别类别的事故", "en": "accident of unrecognised category"},
    "kind.unknown": {"zh": "未识别类型", "en": "unrecognised kind"},
    "kind.administrative_penalty": {"zh": "行政处罚", "en": "administrative penalty"},
    "kind.abnormal_operation": {"zh": "经营异常", "en": "abnormal operation"},
    "kind.serious_violation": {"zh": "严重违法失信", "en": "serious violation list"},
    "kind.dishonest_debtor": {"zh": "失信被执行人", "en": "dishonest debtor list"},
    # evidence, as alerts and `flags show` label it
    "evidence.source": {"zh": "数据源", "en": "source"},
    "evidence.source_name": {"zh": "数据源", "en": "source"},
    "evidence.designated_district": {"zh": "认定时所在区", "en": "district of designation"},
    "evidence.named_district": {"zh": "登记信息所指区", "en": "district the registry names"},
    "evidence.measures": {"zh": "据以认定的办法", "en": "judged under"},
    "evidence.graded_today": {"zh": "按现行办法", "en": "under the measures in force today"},
    "evidence.graded_today_value": {
        "zh": "{title}将定为{grade}（本标记仍按事故发生时的办法认定）",
        "en": "{title} would grade it {grade} (the flag stands as judged when it happened)",
    },
    "evidence.below_threshold_today": {
        "zh": "{title}规定罚款 {threshold} 元以上才需复核，该处罚低于此标准"
        "（本标记仍按处罚决定时的办法认定）",
        "en": "{title} review penalties from CNY {threshold}; this one is below that "
        "(the flag stands as judged when it was decided)",
    },
    "evidence.unlisted_since": {"zh": "数据源不再列出", "en": "no longer listed by the source"},
    "evidence.unlisted_since_value": {
        "zh": "自 {day} 起数据源不再列出该记录；已发生的事实不因此消除，标记保持不变",
        "en": "since {day} the source no longer lists this record; what happened still "
        "stands and so does the flag",
    },
    "evidence.observed_at": {"zh": "获取时间", "en": "observed at"},
    "evidence.raw_status": {"zh": "登记状态（原文）", "en": "registration status (as given)"},
    "evidence.status": {"zh": "状态含义", "en": "status meaning"},
    "evidence.record_id": {"zh": "记录编号", "en": "record id"},
    "evidence.occurred_on": {"zh": "发生日期", "en": "occurred on"},
    "evidence.category": {"zh": "事故类别", "en": "category"},
    "evidence.grade": {"zh": "认定等级（取较重者）", "en": "effective grade (the more severe)"},
    "evidence.provider_grade": {"zh": "数据源给出的等级", "en": "grade given by the source"},
    "evidence.derived_grade": {
        "zh": "按伤亡、损失数字推定的等级",
        "en": "grade derived from the figures",
    },
    "evidence.graded_by_analogy": {"zh": "参照定级依据", "en": "graded by analogy with"},
    "evidence.deaths": {"zh": "死亡人数", "en": "deaths"},
    "evidence.serious_injuries": {"zh": "重伤（含急性中毒）人数", "en": "serious injuries"},
    "evidence.evacuated": {"zh": "疏散转移人数", "en": "evacuated"},
    "evidence.direct_loss_cny": {"zh": "直接经济损失（元）", "en": "direct loss (CNY)"},
    "evidence.summary": {"zh": "概况", "en": "summary"},
    "evidence.kind": {"zh": "类型", "en": "kind"},
    "evidence.decided_on": {"zh": "决定日期", "en": "decided on"},
    "evidence.authority": {"zh": "决定机关", "en": "authority"},
    "evidence.document_no": {"zh": "文书号", "en": "document no."},
    "evidence.fine_cny": {"zh": "罚款金额（元）", "en": "fine (CNY)"},
    "evidence.reason": {"zh": "事由", "en": "reason"},
    "evidence.division_code": {"zh": "行政区划代码", "en": "division code"},
    "evidence.registration_authority": {"zh": "登记机关", "en": "registration authority"},
    "evidence.registered_address": {"zh": "住所", "en": "registered address"},
    "evidence.readings": {"zh": "各项迹象所指", "en": "what each sign says"},
    "evidence.field": {"zh": "字段", "en": "field"},
    "evidence.text": {"zh": "原文", "en": "text as given"},
    "evidence.registered_name": {"zh": "登记名称", "en": "registered name"},
    "evidence.designated_name": {"zh": "认定名称", "en": "designated name"},
    "evidence.former_names": {"zh": "曾用名", "en": "former names"},
    "evidence.before": {"zh": "认定时企业类型", "en": "entity type when designated"},
    "evidence.after": {"zh": "现企业类型", "en": "entity type now"},
    "evidence.raised_by": {"zh": "提出人", "en": "raised by"},
    # what an alert is about, in its subject: a suspected case, never a decision
    "subject.revocation": {
        "zh": "疑似撤销情形：{clause}",
        "en": "possible revocation case: {clause}",
    },
    "subject.review": {"zh": "需核查：{clause}", "en": "to check: {clause}"},
    "subject.action": {"zh": "需办理：{clause}", "en": "to do: {clause}"},
    "subject.expired": {
        "zh": "需核查（《办法》已到期）",
        "en": "to check (the measures have expired)",
    },
    "decides.municipal": {"zh": "北京市经济和信息化局", "en": "the municipal bureau"},
    "decides.district": {
        "zh": "{district}经济和信息化主管部门（或北京市经济和信息化局）",
        "en": "the {district} district authority (or the municipal bureau)",
    },
    "decision.system": {
        "zh": "sfm（依据数据源的最新数据）",
        "en": "sfm (from the sources' latest data)",
    },
    "beijing_time": {"zh": "（北京时间）", "en": " (Beijing time)"},
    "gloss": {"zh": "", "en": "(an unofficial gloss; the measures are in Chinese)"},
    "action.revocation": {
        "zh": "核实情况；情况属实的，依《办法》第十二条作出撤销称号的决定",
        "en": "check the facts; if they hold, decide on revoking the designation under Article 12",
    },
    "action.review": {
        "zh": "核实情况，判断企业是否仍符合认定条件",
        "en": "check whether the enterprise still meets the conditions of designation",
    },
    "action.action": {
        "zh": "督促企业向北京市经济和信息化局申请更名",
        "en": "ask the enterprise to apply to the municipal bureau for the change of name",
    },
    # flag tables and exports
    "flags.title": {"zh": "标记", "en": "Flags"},
    "flags.count": {"zh": "共 {count} 条", "en": "{count} flags"},
    "flags.audit": {"zh": "处理记录", "en": "Audit trail"},
    "flags.col.id": {"zh": "编号", "en": "ID"},
    "flags.col.rule": {"zh": "规则", "en": "Rule"},
    "flags.col.severity": {"zh": "性质", "en": "Severity"},
    "flags.col.state": {"zh": "状态", "en": "State"},
    "flags.col.clause": {"zh": "条款", "en": "Clause"},
    "flags.col.credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
    "flags.col.name": {"zh": "企业名称", "en": "Enterprise"},
    "flags.col.district": {"zh": "所在区", "en": "District"},
    "flags.col.summary": {"zh": "情况", "en": "Finding"},
    # rules, as tables name them and as --rule accepts them
    "audit.flag_subject": {"zh": "标记 {id}（{rule}）", "en": "flag {id} ({rule})"},
    "audit.designation_subject": {"zh": "认定记录", "en": "designation"},
    "audit.reason.rule fired": {"zh": "规则触发", "en": "rule fired"},
    "audit.reason.condition no longer observed": {
        "zh": "数据源不再显示该情形",
        "en": "condition no longer observed",
    },
    "audit.reason.recurred": {"zh": "该情形再次出现", "en": "recurred"},
    # what the data shows when a flag clears (DESIGN §4, "How facts end")
    "audit.reason.ended.status_now": {
        "zh": "数据源显示该企业登记状态已变为“{raw_status}”",
        "en": "the sources show the registration status is now “{raw_status}”",
    },
    "audit.reason.ended.name_now": {
        "zh": "数据源显示该企业登记名称现为“{name}”",
        "en": "the sources show the registered name is now “{name}”",
    },
    "audit.reason.ended.entity_type_now": {
        "zh": "数据源显示该企业类型现为“{entity_type}”",
        "en": "the sources show the entity type is now “{entity_type}”",
    },
    "audit.reason.ended.seat_now": {
        "zh": "数据源显示该企业登记机关现为{authority}，住所为{address}",
        "en": "the sources show the registration authority is now {authority}, "
        "the domicile {address}",
    },
    "audit.reason.ended.found": {
        "zh": "数据源现已查到该企业的登记信息",
        "en": "the registry now finds the enterprise",
    },
    "audit.reason.ended.listing_removed": {
        "zh": "数据源显示该企业已于 {removed_on} 移出该名单",
        "en": "the sources show the enterprise was removed from the list on {removed_on}",
    },
    "audit.reason.ended.listing_gone": {
        "zh": "数据源已不再将该企业列入该名单（该名单只列现行记录，视为已移出）",
        "en": "the source no longer lists the enterprise (it lists current entries only: "
        "taken as removed)",
    },
    "audit.reason.ended.accident_corrected": {
        "zh": "数据源已更正该事故记录（现等级：{grade}），不再构成该情形",
        "en": "the source corrected the accident record (grade now: {grade}); "
        "it no longer meets the condition",
    },
    "audit.reason.ended.penalty_lifted": {
        "zh": "数据源显示该处罚已于 {removed_on} 解除或期满",
        "en": "the sources show the penalty was lifted or ran out on {removed_on}",
    },
    "audit.reason.ended.record_corrected": {
        "zh": "数据源已更正该处罚记录（决定日期：{decided_on}），不再构成该情形",
        "en": "the source corrected the penalty record (decided on {decided_on}); "
        "it no longer meets the condition",
    },
    "audit.reason.ended.value_changed": {
        "zh": "数据源的最新数据已与原情况不同",
        "en": "the sources' latest data differs from what was flagged",
    },
    "audit.reason.renamed": {
        "zh": "已登记更名：{former} → {new}（文号 {reference}）",
        "en": "rename recorded: {former} → {new} (document {reference})",
    },
    "audit.reason.moved": {
        "zh": "所在区变更：{former} → {new}",
        "en": "district changed: {former} → {new}",
    },
    "audit.reason.moved_flag": {
        "zh": "已登记区变更至{district}（{on}，文号 {reference}）",
        "en": "move to {district} recorded ({on}, document {reference})",
    },
    "audit.reason.revoked": {
        "zh": "认定已于 {on} 撤销（文号 {reference}）：{reason}",
        "en": "designation revoked on {on} (document {reference}): {reason}",
    },
    # labels that never read as a decision: a suspicion, a check, a thing to do
    "severity.revocation": {"zh": "疑似撤销情形", "en": "suspected revocation case"},
    "severity.review": {"zh": "待核查", "en": "review"},
    "severity.action": {"zh": "待办理", "en": "action"},
    "state.open": {"zh": "待处理", "en": "open"},
    "state.confirmed": {"zh": "已确认", "en": "confirmed"},
    "state.dismissed": {"zh": "已排除", "en": "dismissed"},
    "state.resolved": {"zh": "已办结", "en": "resolved"},
    "state.cleared": {"zh": "已消除", "en": "cleared"},
    "state.None": {"zh": "—", "en": "—"},
    "audit.title": {"zh": "审计记录", "en": "Audit trail"},
    "audit.col.at": {"zh": "时间", "en": "At"},
    "audit.col.actor": {"zh": "操作人", "en": "By"},
    "audit.col.credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
    "audit.col.subject": {"zh": "对象", "en": "Subject"},
    "audit.col.change": {"zh": "变化", "en": "Change"},
    "audit.col.reason": {"zh": "理由", "en": "Reason"},
    "export.sheet": {"zh": "标记", "en": "Flags"},
    "export.id": {"zh": "编号", "en": "ID"},
    "export.credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
    "export.name": {"zh": "企业名称", "en": "Enterprise"},
    "export.level": {"zh": "级别", "en": "Level"},
    "export.district": {"zh": "所在区", "en": "District"},
    "export.rule_id": {"zh": "规则", "en": "Rule"},
    "export.clause": {"zh": "条款", "en": "Clause"},
    "export.severity": {"zh": "性质", "en": "Severity"},
    "export.state": {"zh": "状态", "en": "State"},
    "export.summary": {"zh": "情况", "en": "Finding"},
    "export.first_seen_at": {"zh": "首次发现（北京时间）", "en": "First seen (Beijing time)"},
    "export.last_seen_at": {"zh": "最近发现（北京时间）", "en": "Last seen (Beijing time)"},
    "export.done": {
        "zh": "已导出 {count} 条标记到 {path}",
        "en": "{count} flags written to {path}",
    },
    "check.set_aside": {
        "zh": "{connector}：他企记录 {other_codes_dropped} 条已剔除；全角代码 {codes_folded} 个"
        "视同所查代码；文件中 {rows_rejected} 行信用代码校验未通过，未归属任何企业",
        "en": "{connector}: {other_codes_dropped} records about another credit code left out; "
        "{codes_folded} full-width codes taken as the code asked; {rows_rejected} dropped rows "
        "whose credit code failed its check, attached to no factory",
    },
    "check.flags": {
        "zh": "规则核查（{measures}）：新增标记 {flags_opened} 条，仍存在 {flags_seen_again} 条，"
        "消除 {flags_cleared} 条，再次出现 {flags_recurred} 条",
        "en": "rules ({measures}): {flags_opened} new flags, {flags_seen_again} still present, "
        "{flags_recurred} recurred, "
        "{flags_cleared} cleared",
    },
    "status.measures": {"zh": "适用办法：{title}（{until}）", "en": "measures: {title} ({until})"},
    "status.measures_open": {"zh": "适用办法：{title}", "en": "measures: {title}"},
    "measures.until": {
        "zh": "有效期至 {expires_on}，{when}",
        "en": "until {expires_on}, {when}",
    },
    "measures.days_left": {"zh": "剩余 {days} 天", "en": "{days} days left"},
    "measures.last_day": {"zh": "今日到期", "en": "expires today"},
    "measures.expired_on": {"zh": "已于 {expires_on} 到期", "en": "expired on {expires_on}"},
    "status.gap": {
        "zh": "注意：{title}已于 {expires_on} 到期，后续办法{successor}自 {successor_from} 起施行；"
        "在此之前 sfm 仍按原办法核查，所有通知标注“需核查（《办法》已到期）”",
        "en": "note: {title} expired on {expires_on} and {successor} take effect only on "
        "{successor_from}; until then sfm keeps applying the expired measures and every alert "
        "says so",
    },
    "status.leader": {
        "zh": "守护进程：{host} 进程 {pid}，自 {since} 起运行",
        "en": "daemon: {host} pid {pid}, leading since {since}",
    },
    "status.no_leader": {"zh": "守护进程：未运行", "en": "daemon: not running"},
    "status.job": {
        "zh": "任务 {id}：下次 {next_run}，上次 {last_run}（{last_outcome}）",
        "en": "job {id}: next {next_run}, last {last_run} ({last_outcome})",
    },
    "status.job_failing": {
        "zh": "  失败中：自 {failing_since} 起连续失败 {failures_in_row} 次，"
        "最近一次：{last_error}",
        "en": "  failing: {failures_in_row} runs in a row since {failing_since}, "
        "last: {last_error}",
    },
    "status.expired": {
        "zh": "注意：{title}已于 {expires_on} 到期，尚未配置后续办法，sfm 仍按原办法核查",
        "en": "note: {title} expired on {expires_on}; no successor is configured and sfm "
        "keeps applying it",
    },
    "status.sweep": {
        "zh": "核查 {id}：{status}，开始 {started_at}，结束 {finished_at}，{factories} 家",
        "en": "sweep {id}: {status}, started {started_at}, finished {finished_at}, "
        "{factories} factories",
    },
    "status.connector": {
        "zh": "数据源 {name}（{topic}）：最近成功 {last_success_at}，最近失败 {last_error_at}，"
        "连续失败 {consecutive_failures} 次",
        "en": "connector {name} ({topic}): last success {last_success_at}, last error "
        "{last_error_at}, {consecutive_failures} consecutive failures",
    },
    "status.outbox": {"zh": "通知：{counts}", "en": "outbox: {counts}"},
    # alerts
    "alerts.title": {"zh": "通知", "en": "Alerts"},
    "alerts.col.id": {"zh": "编号", "en": "ID"},
    "alerts.col.kind": {"zh": "类型", "en": "Kind"},
    "alerts.col.authority": {"zh": "接收单位", "en": "Recipient"},
    "alerts.col.status": {"zh": "状态", "en": "Status"},
    "alerts.col.flag_id": {"zh": "标记", "en": "Flag"},
    "alerts.col.attempts": {"zh": "尝试次数", "en": "Attempts"},
    "alerts.col.subject": {"zh": "标题", "en": "Subject"},
    "alerts.col.error": {"zh": "最近错误", "en": "Last error"},
    "alert_status.held": {"zh": "待汇总", "en": "held"},
    "alert_status.bundled": {"zh": "已汇总", "en": "bundled"},
    "alert_status.pending": {"zh": "待发送", "en": "pending"},
    "alert_status.sending": {"zh": "发送中", "en": "sending"},
    "alert_status.sent": {"zh": "已发送", "en": "sent"},
    "alert_status.failed": {"zh": "发送失败", "en": "failed"},
    "alerts.dispatched": {
        "zh": "已发送 {sent} 条，待重试 {retrying} 条，失败 {failed} 条",
        "en": "{sent} sent, {retrying} to retry, {failed} failed",
    },
    "alerts.config_error": {"zh": "配置错误：{detail}", "en": "configuration error: {detail}"},
    "alerts.incomplete": {
        "zh": "部分通知未能送达（见 `sfm alerts list`）",
        "en": "some alerts did not go out (see `sfm alerts list`)",
    },
    "alerts.retry_usage": {
        "zh": "请给出一个通知编号，或使用 --failed（二者选一）",
        "en": "give one alert ID, or --failed (not both)",
    },
    "alerts.not_failed": {
        "zh": "编号 {id} 的通知不存在或未处于失败状态",
        "en": "alert {id} does not exist or has not failed",
    },
    "alerts.unknown_authority": {
        "zh": "未配置的接收单位“{value}”（municipal、ops 或区）",
        "en": "no authority '{value}' is configured (municipal, ops or a district)",
    },
    "alerts.test_failed": {
        "zh": "发给{authority}的测试消息未能全部送达",
        "en": "the test message to {authority} did not fully go out",
    },
    # the daemon
    "daemon.led_by": {
        "zh": "另一个 sfm 守护进程正在使用该数据库：{host} 进程 {pid}，自 {since} 起"
        "（备用进程请用 sfm run --standby）",
        "en": "another sfm daemon leads on this database: {host} pid {pid}, since {since} "
        "(run a standby with sfm run --standby)",
    },
    "sweep.source_failed": {
        "zh": "数据源 {connector} 对所有企业均查询失败（{errors} 次），本次未得到任何数据",
        "en": "source {connector} failed for every factory ({errors} errors); it told nothing",
    },
    "sweep.alerts_stuck": {
        "zh": "{count} 条告警未能送出（将重试，见 sfm alerts list）",
        "en": "{count} alert(s) could not be handed over (retried; see sfm alerts list)",
    },
    "sweep.busy": {
        "zh": "另一次核查正在进行，本次未执行；请稍后再试",
        "en": "another sweep is in progress; this one did not run (try again later)",
    },
    "sweep.led_by": {
        "zh": "另一个 sfm 进程（守护进程或核查）正在使用该数据库："
        "{host} 进程 {pid}，自 {since} 起；本次核查未执行",
        "en": "another sfm process (a daemon or a check) holds this database: {host} pid {pid}, "
        "since {since}; this check did not run",
    },
    "sweep.led_unknown": {
        "zh": "另一个 sfm 进程（守护进程或核查）正在使用该数据库；本次核查未执行",
        "en": "another sfm process (a daemon or a check) holds this database; this check did "
        "not run",
    },
    "daemon.led_unknown": {
        "zh": "另一个 sfm 守护进程正在使用该数据库（备用进程请用 sfm run --standby）",
        "en": "another sfm daemon leads on this database (run a standby with sfm run --standby)",
    },
    "daemon.jobs_failed": {
        "zh": "{count} 个任务失败：{what}（详情见日志）",
        "en": "{count} job(s) failed: {what} (details in the log)",
    },
    "daemon.lost_lock": {
        "zh": "守护进程失去了数据库锁，已停止",
        "en": "the daemon lost its database lock and stopped",
    },
    "daemon.deposed": {
        "zh": "守护进程已失去主控地位（第 {epoch} 任）：另一个进程已接管或其锁会话已断开；"
        "本进程不再写入数据库，已停止",
        "en": "the daemon lost the lead (leadership {epoch}): another took over or its lock "
        "session ended; it writes nothing more and stopped",
    },
    "daemon.db_file_gone": {
        "zh": "数据库文件 {path} 已被删除或替换：守护进程已停止所有任务并退出；"
        "请从备份恢复该文件后再启动",
        "en": "the database file {path} was deleted or replaced: the daemon stopped every job "
        "and exited; restore the file from a backup before starting again",
    },
    "db.stray_journal": {
        "zh": "找到 {files}，但没有其数据库文件 {path}：请从备份恢复 {path}"
        "（或确认这些文件无用后将其移走）；sfm 不会在旁边新建空数据库",
        "en": "found {files} without their database {path}: restore {path} from a backup (or "
        "move these files away once you know they hold nothing needed); sfm will not create "
        "an empty database beside them",
    },
    "db.unreadable_file": {
        "zh": "sfm 无法读写 {path}：请将其属主改为运行 sfm 的用户并设为 0600（chown、chmod 600）",
        "en": "sfm cannot read and write {path}: make it the sfm user's, mode 0600 (chown, "
        "chmod 600)",
    },
    "daemon.db_outage": {
        "zh": "数据库在 {seconds} 秒内未恢复，守护进程已停止，由备用进程接管",
        "en": "the database did not come back within {seconds} s; the daemon stopped so that a "
        "standby can lead",
    },
    "init.exists": {
        "zh": "不覆盖已有文件：{paths}",
        "en": "will not overwrite: {paths}",
    },
    "init.done": {
        "zh": "已写入 {directory}/sfm.toml 和 authorities.toml（密钥写入 {directory}/env），"
        "状态目录 {state}（0700）。请填写接收单位和操作人员，"
        "再运行 sfm --config {directory}/sfm.toml config check",
        "en": "wrote {directory}/sfm.toml and authorities.toml (secrets go in {directory}/env), "
        "state folder {state} (0700). Fill in the authorities and "
        "operators, then run sfm --config {directory}/sfm.toml config check",
    },
    "init.state_denied": {
        "zh": "无法创建状态目录 {path}（{detail}）：请以 root 身份运行 sfm init 并加 --user",
        "en": "cannot make the state folder {path} ({detail}): run sfm init as root, with --user",
    },
    # the regulatory calendar and the bureau's overview
    "designation.active": {"zh": "有效", "en": "active"},
    "designation.revoked": {"zh": "已撤销", "en": "revoked"},
    "filings.sheet": {"zh": "{quarter}基础级备案", "en": "{quarter} basic filings"},
    "filings.title": {
        "zh": "{quarter}基础级智能工厂备案结果（备案日期 {first} 至 {last}，"
        "于 {deadline} 前报送市经济和信息化局）",
        "en": "Basic-level smart factory filings, {quarter} (filed {first} to {last}; "
        "due to the municipal bureau before {deadline})",
    },
    "config.grading_title": {
        "zh": "{title}（{start} 至 {until}）事故分级：任一项达到即为该等级",
        "en": "{title} ({start} to {until}) accident grading: any one figure reaching it suffices",
    },
    "config.grading_quality": {
        "zh": "质量事故无法定伤亡分级：以数据源给出的等级为准；"
        "按国务院令第493号参照所得的等级只供复核",
        "en": "quality accidents have no statutory grading: the source's grade governs; a grade "
        "by analogy with Decree 493 is for review only",
    },
    "config.grading_category": {"zh": "类别", "en": "category"},
    "config.grading_grade": {"zh": "等级", "en": "grade"},
    "quarter.text": {"zh": "{year}年第{number}季度", "en": "{year} Q{number}"},
    "quarter.1": {"zh": "一", "en": "1"},
    "quarter.2": {"zh": "二", "en": "2"},
    "quarter.3": {"zh": "三", "en": "3"},
    "quarter.4": {"zh": "四", "en": "4"},
    "filings.credit_code": {"zh": "统一社会信用代码", "en": "Credit code"},
    "filings.name": {"zh": "企业名称", "en": "Enterprise"},
    "filings.district": {"zh": "所在区", "en": "District"},
    "filings.designated_on": {"zh": "备案（认定）日期", "en": "Filed (designated) on"},
    "filings.designation": {"zh": "称号状态", "en": "Designation"},
    "filings.open_flags": {"zh": "待处理标记", "en": "Open flags"},
    "filings.decisions": {"zh": "已作出的决定", "en": "Decisions taken"},
    # errors
    "error.database": {
        "zh": "数据库错误：{detail}（未作任何修改；详情见日志）",
        "en": "database error: {detail} (nothing was changed; details in the log)",
    },
    "error.unexpected": {
        "zh": "意外错误：{detail}（详情见日志）",
        "en": "unexpected error: {detail} (details in the log)",
    },
}
# each rule's name comes from the rule catalogue (monitor/vocabulary.RULES)
CATALOG.update({f"rule.{spec.id}": {"zh": spec.zh, "en": spec.en} for spec in RULES.values()})


_FORCED: ContextVar[str | None] = ContextVar("sfm_language", default=None)


@contextmanager
def using_language(lang: str) -> Iterator[None]:
    """Render in `lang` whatever SFM_LANG says (alerts follow [alerts] language)."""
    token = _FORCED.set(lang)
    try:
        yield
    finally:
        _FORCED.reset(token)


def language() -> str:
    """The reader's language: SFM_LANG if it names a supported one, else Chinese."""
    lang = (_FORCED.get() or os.environ.get("SFM_LANG", "zh")).strip().lower()
    for supported in SUPPORTED:
        if lang.startswith(supported):
            return supported
    return "zh"


def t(key: str, /, **params: Any) -> str:
    """Render message `key` in the reader's language."""
    entry = CATALOG[key]
    return entry.get(language(), entry["zh"]).format(**params)


class Message:
    """A message kept as data (key and parameters) until shown."""

    def __init__(self, key: str, /, **params: Any) -> None:
        if key not in CATALOG:
            raise KeyError(key)
        self.key = key
        self.params = params

    def __str__(self) -> str:
        # a flag's states are recorded as words of the vocabulary; readers get the catalogue's
        shown = {
            name: t(f"state.{value}")
            if name.endswith("_state") and f"state.{value}" in CATALOG
            else value
            for name, value in self.params.items()
        }
        return t(self.key, **shown)

    def __repr__(self) -> str:
        return f"Message({self.key!r}, **{self.params!r})"


def flag_summary(key: str, params: dict[str, Any]) -> str:
    """A flag's summary in the reader's language, its coded values spelled out."""
    shown = {
        name: t(f"{name}.{value}") if f"{name}.{value}" in CATALOG else value
        for name, value in params.items()
    }
    try:
        return str(Message(key, **shown))
    except (KeyError, IndexError):  # a message whose parameters changed since it was stored
        return key


def word_of(prefix: str, text: str | None) -> str | None:
    """The recorded word a filter names, in either language: `word_of("state", "待处理")` is
    "open". The word itself passes through; anything else is returned as given, for the
    caller's own check to refuse."""
    if text is None:
        return None
    wanted = text.strip()
    for key, texts in CATALOG.items():
        if key.startswith(prefix + ".") and wanted in (texts.get("zh"), texts.get("en")):
            return key.removeprefix(prefix + ".")
    return wanted


def audit_reason(text: str) -> str:
    """An audit reason as readers see it: the system's own are words of the catalogue
    (audit.reason.*), staff's are shown as written."""
    key = f"audit.reason.{text}"
    return t(key) if key in CATALOG else text
