"""The workbench's words, Vietnamese first, English on request.

One catalogue for every page: ``TEXTS[key] = (vi, en)``. Placeholders are
``str.format`` names. Pages of another area append their keys at the end, under a
comment naming the area, so that the file merges without conflicts.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


def language(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


TEXTS: dict[str, tuple[str, str]] = {
    # ----------------------------------------------------------------- layout
    "app.name": ("Một cửa Sở Nông nghiệp và Môi trường", "One-stop desk of the Department"),
    "layout.skip": ("Chuyển đến nội dung chính", "Skip to main content"),
    "layout.nav": ("Điều hướng chính", "Main navigation"),
    "layout.language": ("Ngôn ngữ", "Language"),
    "layout.signed_in_as": ("Đang đăng nhập: {roles}", "Signed in: {roles}"),
    "layout.sign_in": ("Đăng nhập", "Sign in"),
    "layout.sign_out": ("Đăng xuất", "Sign out"),
    "layout.footer": (
        "Hệ thống một cửa điện tử — Sở Nông nghiệp và Môi trường",
        "Electronic one-stop system — Department of Agriculture and Environment",
    ),
    "role.desk": ("Bộ phận một cửa", "One-stop desk"),
    "role.officer": ("Cán bộ thụ lý", "Officer"),
    "role.leader": ("Lãnh đạo", "Leader"),
    "role.auditor": ("Kiểm toán viên", "Auditor"),
    "role.operator": ("Vận hành", "Operator"),
    "role.portal": ("Cổng dịch vụ công", "Portal"),
    "role.hotline": ("Đường dây nóng", "Hotline"),
    "nav.home": ("Trang chủ", "Home"),
    "nav.queue": ("Hồ sơ cần xử lý", "Work queue"),
    "nav.approvals": ("Chờ phê duyệt", "Awaiting approval"),
    "nav.statistics": ("Thống kê đúng hạn", "On-time statistics"),
    # ----------------------------------------------------------------- home
    "home.title": ("Trang làm việc", "Workbench"),
    "home.welcome": (
        "Chọn công việc trong thanh điều hướng.",
        "Choose your work in the navigation bar.",
    ),
    "home.anonymous": (
        "Cán bộ đăng nhập bằng tài khoản do Sở cấp.",
        "Staff sign in with the account the department gave them.",
    ),
    "home.citizens": ("Người dân, doanh nghiệp", "Citizens and businesses"),
    "home.citizens_intro": (
        "Theo dõi hồ sơ đã nộp và nộp bổ sung giấy tờ bằng mã trên giấy tiếp nhận.",
        "Follow a dossier you handed in, and bring the documents asked for, with the code "
        "on your slip.",
    ),
    "home.staff": ("Cán bộ", "Staff"),
    "home.nothing": (
        "Tài khoản của bạn chưa được giao vai trò nào trên trang này.",
        "Your account has no role on these pages yet.",
    ),
    # ----------------------------------------------------------------- errors
    "error.not_found.title": ("Không tìm thấy", "Not found"),
    "error.not_found.body": (
        "Không có hồ sơ hay trang nào như vậy trong phạm vi của bạn.",
        "There is no such dossier or page within your reach.",
    ),
    "error.forbidden.title": ("Không có quyền", "Not allowed"),
    "error.forbidden.body": (
        "Vai trò của bạn không được dùng trang này.",
        "Your role may not use this page.",
    ),
    "error.csrf.title": ("Biểu mẫu đã hết hiệu lực", "The form has expired"),
    "error.csrf.body": (
        "Biểu mẫu không mang mã bảo vệ hợp lệ nên không được xử lý. Hãy mở lại trang và gửi lại.",
        "The form did not carry a valid protection code, so nothing was done. "
        "Open the page again and resend it.",
    ),
    "error.unavailable.title": ("Dịch vụ tạm thời gián đoạn", "Service temporarily unavailable"),
    "error.unavailable.body": (
        "Một dịch vụ của hệ thống chưa trả lời. Hãy thử lại sau ít phút.",
        "One of the system's services did not answer. Try again in a few minutes.",
    ),
    "error.sign_in.title": ("Không đăng nhập được", "Sign-in failed"),
    "error.sign_in.body": (
        "Phiên đăng nhập không hợp lệ hoặc đã hết hạn. Hãy đăng nhập lại.",
        "The sign-in was invalid or took too long. Please sign in again.",
    ),
    "error.back_home": ("Về trang chủ", "Back to the home page"),
    "error.invalid.title": ("Dữ liệu chưa hợp lệ", "Invalid input"),
    "error.invalid.body": (
        "Yêu cầu có dữ liệu không hợp lệ nên không được xử lý.",
        "The request held invalid data, so nothing was done.",
    ),
    # ----------------------------------------------------------------- statuses
    "status.submitted": ("Mới nộp", "Submitted"),
    "status.received": ("Đã tiếp nhận", "Received"),
    "status.awaiting_acceptance": ("Chờ quyết định thụ lý", "Awaiting acceptance"),
    "status.in_review": ("Đang thẩm định", "In review"),
    "status.supplement_requested": ("Chờ bổ sung", "Supplement requested"),
    "status.supplemented": ("Đã bổ sung", "Supplemented"),
    "status.awaiting_approval": ("Chờ lãnh đạo phê duyệt", "Awaiting approval"),
    "status.approved": ("Đã phê duyệt", "Approved"),
    "status.rejected": ("Từ chối", "Rejected"),
    "status.result_returned": ("Đã trả kết quả", "Result returned"),
    "status.withdrawn": ("Đã rút", "Withdrawn"),
    # ----------------------------------------------------------------- actions
    "action.receive": ("Tiếp nhận", "Receive"),
    "action.request_supplement": ("Yêu cầu bổ sung", "Request a supplement"),
    "action.supplement": ("Bổ sung hồ sơ", "Supplement"),
    "action.start_review": ("Bắt đầu thẩm định", "Start the review"),
    "action.forward_for_approval": ("Trình lãnh đạo phê duyệt", "Forward for approval"),
    "action.approve": ("Phê duyệt", "Approve"),
    "action.reject": ("Từ chối", "Reject"),
    "action.return_result": ("Trả kết quả", "Return the result"),
    "action.withdraw": ("Rút hồ sơ", "Withdraw"),
    "action.extend_deadline": ("Gia hạn", "Extend the deadline"),
    "action.accept": ("Thụ lý", "Accept for settlement"),
    "action.decline": ("Không thụ lý", "Decline"),
    "action.propose_apology": ("Đề xuất phiếu xin lỗi, hẹn lại", "Propose an apology slip"),
    "action.sign_apology": ("Ký phiếu xin lỗi, hẹn lại", "Sign the apology slip"),
    "action.claim": ("Nhận xử lý", "Take this dossier"),
    "action.assign": ("Giao xử lý", "Assign"),
    # What someone did, for "a colleague … N minutes ago".
    "did.receive": ("đã tiếp nhận", "received"),
    "did.request_supplement": ("đã yêu cầu bổ sung", "requested a supplement to"),
    "did.supplement": ("đã bổ sung", "supplemented"),
    "did.start_review": ("đã bắt đầu thẩm định", "started reviewing"),
    "did.forward_for_approval": ("đã trình phê duyệt", "forwarded for approval"),
    "did.approve": ("đã phê duyệt", "approved"),
    "did.reject": ("đã từ chối", "rejected"),
    "did.return_result": ("đã trả kết quả", "returned the result of"),
    "did.withdraw": ("đã rút", "withdrew"),
    "did.extend_deadline": ("đã gia hạn", "extended the deadline of"),
    "did.accept": ("đã thụ lý", "accepted"),
    "did.decline": ("đã không thụ lý", "declined"),
    "did.propose_apology": ("đã đề xuất phiếu xin lỗi cho", "proposed an apology slip for"),
    "did.sign_apology": ("đã ký phiếu xin lỗi cho", "signed the apology slip for"),
    "did.claim": ("đã nhận xử lý", "took"),
    "did.assign": ("đã giao xử lý", "assigned"),
    "did.changed": ("đã thay đổi", "changed"),
    # ----------------------------------------------------------------- actors
    "actor.you": ("Bạn", "You"),
    "actor.colleague": ("Một đồng nghiệp", "A colleague"),
    "actor.system": ("Hệ thống", "The system"),
    "actor.citizen": ("Người nộp hồ sơ", "The applicant"),
    "actor.someone": ("Một người khác", "Someone else"),
    # ----------------------------------------------------------------- time
    "ago.now": ("vừa xong", "just now"),
    "ago.minutes": ("{n} phút trước", "{n} minutes ago"),
    "ago.minute": ("1 phút trước", "1 minute ago"),
    "ago.hours": ("{n} giờ trước", "{n} hours ago"),
    "ago.days": ("{n} ngày trước", "{n} days ago"),
    # ----------------------------------------------------------------- queue
    "queue.title": ("Hồ sơ cần xử lý", "Work queue"),
    "queue.approvals_title": ("Hồ sơ chờ phê duyệt", "Dossiers awaiting approval"),
    "queue.agency": ("Đơn vị: {agency}", "Agency: {agency}"),
    "queue.filters": ("Lọc hồ sơ", "Filter dossiers"),
    "queue.status": ("Trạng thái", "Status"),
    "queue.any_status": ("Mọi trạng thái đang xử lý", "Every open status"),
    "queue.procedure": ("Thủ tục", "Procedure"),
    "queue.any_procedure": ("Mọi thủ tục", "Every procedure"),
    "queue.overdue_only": ("Chỉ hồ sơ quá hạn", "Overdue only"),
    "queue.apply": ("Lọc", "Filter"),
    "queue.receipt": ("Mã hồ sơ", "Receipt code"),
    "queue.due": ("Hạn giải quyết", "Due"),
    "queue.assignee": ("Người xử lý", "Assignee"),
    "queue.nobody": ("Chưa giao", "Nobody"),
    "queue.anyone": ("Mọi người", "Anyone"),
    "queue.mine": ("Của tôi", "Mine"),
    "queue.you": ("Bạn", "You"),
    "queue.colleague": ("Đồng nghiệp", "A colleague"),
    "queue.overdue": ("Quá hạn", "Overdue"),
    "queue.paused": ("Tạm dừng tính hạn", "Clock paused"),
    "queue.empty": ("Không có hồ sơ nào.", "No dossiers."),
    "queue.next": ("Trang sau", "Next page"),
    "queue.first": ("Trang đầu", "First page"),
    "queue.caption": (
        "Hồ sơ quá hạn xếp trước, sau đó theo hạn gần nhất",
        "Overdue dossiers first, then the soonest due",
    ),
    # ----------------------------------------------------------------- dossier
    "dossier.title": ("Hồ sơ {code}", "Dossier {code}"),
    "dossier.summary": ("Thông tin chung", "Summary"),
    "dossier.procedure": ("Thủ tục", "Procedure"),
    "dossier.status": ("Trạng thái", "Status"),
    "dossier.submitted_at": ("Ngày nộp", "Submitted"),
    "dossier.due": ("Hạn giải quyết", "Due"),
    "dossier.appointment": ("Ngày hẹn trả", "Appointment"),
    "dossier.channel": ("Kênh nộp", "Channel"),
    "dossier.applicant": ("Người nộp", "Applicant"),
    "dossier.assignee": ("Người xử lý", "Assignee"),
    "dossier.result_reference": ("Số văn bản kết quả", "Result reference"),
    "dossier.form": ("Nội dung tờ khai", "Form"),
    "dossier.content": ("Nội dung", "Content"),
    "dossier.documents": ("Giấy tờ kèm theo", "Documents"),
    "dossier.no_documents": ("Không có giấy tờ.", "No documents."),
    "dossier.missing": ("Giấy tờ còn thiếu", "Missing documents"),
    "dossier.timeline": ("Diễn biến xử lý", "Timeline"),
    "dossier.notes": ("Ghi chú nội bộ", "Internal notes"),
    "dossier.no_notes": ("Chưa có ghi chú.", "No notes yet."),
    "dossier.note_text": ("Ghi chú mới", "New note"),
    "dossier.note_hint": (
        "Ghi chú chỉ cán bộ xem được, người nộp không thấy.",
        "Only staff see notes; the applicant never does.",
    ),
    "dossier.add_note": ("Thêm ghi chú", "Add the note"),
    "dossier.actions": ("Thao tác", "Actions"),
    "dossier.no_actions": (
        "Bạn không có thao tác nào với hồ sơ ở trạng thái này.",
        "There is nothing you may do with the dossier in this status.",
    ),
    "dossier.reason": ("Lý do", "Reason"),
    "dossier.reason_hint": ("Người nộp sẽ đọc lý do này.", "The applicant will read this."),
    "dossier.missing_documents": ("Giấy tờ cần bổ sung", "Documents to bring"),
    "dossier.overdue": ("Hồ sơ đã quá hạn", "This dossier is overdue"),
    "dossier.paused": (
        "Đang chờ người nộp bổ sung: thời hạn tạm dừng",
        "Waiting for the applicant: the clock stands still",
    ),
    "dossier.from_to": ("{before} → {after}", "{before} → {after}"),
    "dossier.done": ("Đã thực hiện: {action}.", "Done: {action}."),
    "dossier.note_added": ("Đã thêm ghi chú.", "The note was added."),
    "dossier.conflict": (
        "{who} {did} hồ sơ này {when}. Thao tác của bạn chưa được thực hiện — "
        "hãy xem lại hồ sơ rồi quyết định.",
        "{who} {did} this dossier {when}. Your action was not taken — "
        "look at the dossier again, then decide.",
    ),
    "dossier.reload": ("Tải lại hồ sơ", "Reload the dossier"),
    "dossier.taken": (
        "Một đồng nghiệp đang xử lý hồ sơ này; lãnh đạo có thể giao lại.",
        "A colleague holds this dossier; a leader can reassign it.",
    ),
    "dossier.not_allowed": (
        "Thao tác này không còn thực hiện được ở trạng thái hiện tại của hồ sơ.",
        "This action is no longer possible in the dossier's current status.",
    ),
    "dossier.channel.online": ("Trực tuyến", "Online"),
    "dossier.channel.counter": ("Trực tiếp tại bộ phận một cửa", "At the counter"),
    "dossier.channel.postal": ("Bưu chính", "By post"),
    "dossier.field_required": ("Bắt buộc với thao tác này", "Required for this action"),
    "dossier.missing_items": (
        "Giấy tờ khác cần bổ sung (mỗi dòng một mục)",
        "Anything else missing (one item a line)",
    ),
    "dossier.missing_hint": (
        "Chọn giấy tờ hoặc ghi thêm: người nộp bổ sung một lần tất cả.",
        "Tick documents or add items: the applicant brings everything at once.",
    ),
    "dossier.decision": ("Quyết định, kết luận", "Decision or conclusion"),
    "dossier.decision_number": ("Số văn bản", "Number"),
    "dossier.decision_issued_on": ("Ngày ban hành", "Issued on"),
    "dossier.decision_summary": ("Trích yếu", "Summary"),
    "dossier.complex": ("Vụ việc phức tạp", "A complex case"),
    "dossier.remote_area": ("Vùng sâu, vùng xa", "From a remote area"),
    "dossier.extension_days": ("Số ngày gia hạn", "Days added"),
    "dossier.particularly_complex": ("Vụ việc đặc biệt phức tạp", "A particularly complex case"),
    "dossier.new_due_date": ("Ngày hẹn mới", "New appointment date"),
    "dossier.apology_text": ("Nội dung xin lỗi và lý do", "The apology and its reason"),
    "dossier.apology_proposed": (
        "Phiếu xin lỗi, hẹn lại chờ lãnh đạo ký",
        "Apology slip awaiting a leader's signature",
    ),
    "dossier.acceptance_due": ("Hạn quyết định thụ lý", "Accept or decline by"),
    "dossier.missing_items_asked": ("Giấy tờ khác đã yêu cầu", "Other items asked for"),
    "dossier.fill_in": (
        "Thao tác chưa được thực hiện. Cần điền: {fields}.",
        "Nothing was done. Please fill in: {fields}.",
    ),
    # ----------------------------------------------------------------- statistics
    "stats.title": ("Thống kê giải quyết đúng hạn", "On-time statistics"),
    "stats.period": ("Từ {first} đến {last}", "From {first} to {last}"),
    "stats.from": ("Từ ngày", "From"),
    "stats.to": ("Đến ngày", "To"),
    "stats.show": ("Xem", "Show"),
    "stats.chart": ("Tỷ lệ đúng hạn theo thủ tục", "On-time rate by procedure"),
    "stats.chart_label": (
        "Biểu đồ tỷ lệ giải quyết đúng hạn theo thủ tục; số liệu ở bảng dưới",
        "Chart of the on-time rate by procedure; the figures are in the table below",
    ),
    "stats.procedure": ("Thủ tục", "Procedure"),
    "stats.received": ("Tiếp nhận", "Received"),
    "stats.in_progress": ("Đang giải quyết", "In progress"),
    "stats.on_time": ("Đúng hạn", "On time"),
    "stats.late": ("Trễ hạn", "Late"),
    "stats.overdue_now": ("Đang quá hạn", "Overdue now"),
    "stats.rate": ("Tỷ lệ đúng hạn", "On-time rate"),
    "stats.no_rate": ("chưa có", "none yet"),
    "stats.total": ("Cả đơn vị", "Whole agency"),
    "stats.empty": ("Chưa có hồ sơ trong kỳ.", "No dossiers in the period."),
    # ----------------------------------------------------------------- desk
    "nav.desk": ("Tiếp nhận hồ sơ", "Receive a dossier"),
    "desk.title": ("Tiếp nhận hồ sơ tại bộ phận một cửa", "Receive a dossier at the desk"),
    "desk.intro": (
        "Chọn thủ tục của hồ sơ người dân mang đến hoặc gửi qua bưu chính; mọi đơn vị của Sở.",
        "Choose the procedure of the dossier brought to the counter or sent by post; "
        "any unit of the department.",
    ),
    "desk.procedure": ("Thủ tục", "Procedure"),
    "desk.open_form": ("Mở tờ khai", "Open the form"),
    "desk.unknown_procedure": (
        "Không có thủ tục này trong danh mục. Hãy chọn trong danh sách.",
        "There is no such procedure in the catalogue. Choose one from the list.",
    ),
    "desk.form_title": ("Tiếp nhận hồ sơ {code}", "Receive a dossier: {code}"),
    "desk.errors_title": (
        "Hồ sơ chưa được tiếp nhận: {n} chỗ cần sửa",
        "The dossier was not received: {n} things to correct",
    ),
    "desk.reception": ("Hình thức tiếp nhận", "How it came in"),
    "desk.channel": ("Kênh tiếp nhận", "Channel"),
    "desk.channel.counter": ("Trực tiếp tại bộ phận một cửa", "At the counter"),
    "desk.channel.post": ("Qua dịch vụ bưu chính", "By post"),
    "desk.received_on": (
        "Ngày nhận thư (chỉ hồ sơ qua bưu chính)",
        "Day the letter arrived (post only)",
    ),
    "desk.received_on_hint": (
        "Ngày vào sổ công văn đến; để trống nếu là hôm nay.",
        "The day in the incoming mail register; leave empty for today.",
    ),
    "desk.applicant": ("Người nộp hồ sơ", "Applicant"),
    "desk.applicant.type": ("Người nộp là", "The applicant is"),
    "desk.applicant.person": ("Cá nhân", "A person"),
    "desk.applicant.organisation": ("Tổ chức", "An organisation"),
    "desk.applicant.name": ("Họ và tên / tên tổ chức", "Full name / organisation's name"),
    "desk.applicant.id_number": ("Số CCCD / mã số thuế", "Citizen ID / tax code"),
    "desk.applicant.id_number_hint": (
        "Cá nhân: 12 số căn cước công dân; tổ chức: mã số thuế 10 hoặc 13 số.",
        "A person: the 12-digit citizen ID; an organisation: its 10 or 13-digit tax code.",
    ),
    "desk.applicant.phone": ("Số điện thoại", "Phone number"),
    "desk.applicant.email": ("Thư điện tử", "Email"),
    "desk.applicant.address": ("Địa chỉ", "Address"),
    "desk.applicant.language": ("Ngôn ngữ nhận thông báo", "Language of the notices"),
    "desk.form": ("Tờ khai", "Form"),
    "desk.content": ("Nội dung đơn", "The letter"),
    "desk.content_label": ("Nội dung đơn (nguyên văn)", "What the letter says (as written)"),
    "desk.documents": ("Thành phần hồ sơ", "Documents"),
    "desk.documents_hint": (
        "Quét từng giấy tờ thành PDF, JPEG hoặc PNG. Giấy tờ còn thiếu sẽ được cán bộ "
        "yêu cầu bổ sung sau.",
        "Scan each document as PDF, JPEG or PNG. The officer asks later for any missing one.",
    ),
    "desk.required": ("bắt buộc", "required"),
    "desk.row": ("Dòng {n}", "Row {n}"),
    "desk.add_row": ("Thêm một dòng", "Add a row"),
    "desk.choose_one": ("— Chọn —", "— Choose —"),
    "desk.kept": ("Đã tải lên: {name} ({kb} KB)", "Uploaded: {name} ({kb} KB)"),
    "desk.submit": ("Tiếp nhận hồ sơ", "Receive the dossier"),
    "desk.upload_refused": ("tệp không được nhận", "the file was refused"),
    "desk.receipt_title": ("Đã tiếp nhận hồ sơ {code}", "Dossier {code} received"),
    "desk.received": (
        "Hồ sơ đã được tiếp nhận. Hãy in giấy tiếp nhận và hẹn trả kết quả cho người nộp.",
        "The dossier was received. Print the receipt-and-appointment slip for the applicant.",
    ),
    "desk.receipt": ("Biên nhận", "Receipt"),
    "desk.receipt_code": ("Mã hồ sơ", "Receipt code"),
    "desk.follow_up_secret": ("Mã tra cứu", "Follow-up secret"),
    "desk.unit": ("Đơn vị giải quyết", "Settled by"),
    "desk.appointment": ("Ngày hẹn trả kết quả", "Appointment for the result"),
    "desk.secret_hint": (
        "Mã tra cứu chỉ hiện một lần: đọc hoặc ghi cho người nộp, không in trên giấy tiếp nhận.",
        "The follow-up secret is shown once: tell it to the applicant; the slip does not carry it.",
    ),
    "desk.print_slip": ("In giấy tiếp nhận (PDF)", "Print the slip (PDF)"),
    "desk.another": ("Tiếp nhận hồ sơ khác", "Receive another dossier"),
    "desk.new_tab": ("mở trong thẻ mới", "opens in a new tab"),
    # ----------------------------------------------------------------- citizen
    "citizen.title": ("Tra cứu hồ sơ", "Follow your dossier"),
    "citizen.intro": (
        "Nhập mã hồ sơ trên giấy tiếp nhận và mã tra cứu (hoặc số điện thoại đã khai).",
        "Enter the receipt code on your slip and the follow-up secret (or the phone number "
        "you gave).",
    ),
    "citizen.errors_title": ("Hãy kiểm tra lại", "Please check"),
    "citizen.receipt_code": ("Mã hồ sơ", "Receipt code"),
    "citizen.receipt_code_hint": ("Ví dụ: MT-261126-XVQKYC", "For example: MT-261126-XVQKYC"),
    "citizen.secret": ("Mã tra cứu", "Follow-up secret"),
    "citizen.secret_hint": (
        "Mã cán bộ đọc cho bạn khi nhận hồ sơ, hoặc trong thư điện tử xác nhận.",
        "The code the desk gave you, or the one in the confirmation email.",
    ),
    "citizen.phone": ("Hoặc số điện thoại", "Or the phone number"),
    "citizen.phone_hint": (
        "Nếu không có mã tra cứu: số điện thoại đã khai trong hồ sơ.",
        "Without the secret: the phone number given in the dossier.",
    ),
    "citizen.open": ("Tra cứu", "Look it up"),
    "citizen.error.receipt_code": ("Mã hồ sơ chưa đúng dạng.", "This is not a receipt code."),
    "citizen.error.second_factor": (
        "Nhập mã tra cứu hoặc số điện thoại.",
        "Enter the follow-up secret or the phone number.",
    ),
    "citizen.error.secret": ("Mã tra cứu chưa đúng dạng.", "This is not a follow-up secret."),
    "citizen.error.phone": ("Số điện thoại chưa đúng dạng.", "This is not a phone number."),
    "citizen.error.not_found": (
        "Không tìm thấy hồ sơ với mã và thông tin đã nhập. Hãy kiểm tra lại.",
        "No dossier matches the code and details entered. Please check them.",
    ),
    "citizen.error.too_many": (
        "Bạn đã thử quá nhiều lần. Hãy thử lại sau ít phút.",
        "Too many tries. Please try again in a few minutes.",
    ),
    "citizen.error.no_file": ("Hãy chọn ít nhất một tệp.", "Choose at least one file."),
    "citizen.dossier_title": ("Hồ sơ {code}", "Dossier {code}"),
    "citizen.where": ("Hồ sơ của bạn đang ở đâu", "Where your dossier is"),
    "citizen.procedure": ("Thủ tục", "Procedure"),
    "citizen.updated_at": ("Cập nhật lúc", "Last change"),
    "citizen.due": ("Ngày hẹn trả kết quả", "Appointment for the result"),
    "citizen.steps": ("Các bước giải quyết", "The steps"),
    "citizen.step.submitted": ("Nộp hồ sơ", "Dossier handed in"),
    "citizen.step.received": ("Cơ quan tiếp nhận", "Received by the department"),
    "citizen.step.in_review": ("Xem xét, thẩm định", "Examined"),
    "citizen.step.decided": ("Có kết quả giải quyết", "Decided"),
    "citizen.step.result_returned": ("Trả kết quả", "Result handed over"),
    "citizen.state.done": ("đã xong", "done"),
    "citizen.state.current": ("đang ở bước này", "current step"),
    "citizen.state.upcoming": ("chưa đến", "to come"),
    "citizen.status.submitted": (
        "Hồ sơ của bạn đã được gửi đến Sở và đang chờ tiếp nhận.",
        "Your dossier reached the department and waits to be received.",
    ),
    "citizen.status.received": (
        "Sở đã tiếp nhận hồ sơ của bạn.",
        "The department received your dossier.",
    ),
    "citizen.status.awaiting_acceptance": (
        "Sở đã nhận đơn của bạn và đang xem xét để quyết định thụ lý giải quyết.",
        "The department received your application and is deciding whether to take it up.",
    ),
    "citizen.status.in_review": (
        "Cán bộ đang xem xét hồ sơ của bạn.",
        "An officer is examining your dossier.",
    ),
    "citizen.status.supplement_requested": (
        "Hồ sơ cần bổ sung giấy tờ. Thời hạn giải quyết tạm dừng đến khi bạn nộp bổ sung.",
        "Your dossier needs more documents. The time limit stands still until you hand them in.",
    ),
    "citizen.status.supplemented": (
        "Bạn đã nộp bổ sung; cán bộ đang xem xét tiếp.",
        "You handed in the documents; an officer is examining the dossier again.",
    ),
    "citizen.status.awaiting_approval": (
        "Hồ sơ đã được thẩm định và đang chờ lãnh đạo ký duyệt.",
        "Your dossier was examined and waits for the leader's signature.",
    ),
    "citizen.status.approved": (
        "Hồ sơ đã được phê duyệt; kết quả sắp được trả.",
        "Your dossier was approved; the result will be handed over soon.",
    ),
    "citizen.status.rejected": (
        "Hồ sơ không được chấp thuận. Sở sẽ gửi văn bản nêu rõ lý do.",
        "Your dossier was refused. The department sends you a letter with the reasons.",
    ),
    "citizen.status.result_returned": (
        "Đã có kết quả giải quyết hồ sơ của bạn.",
        "The result of your dossier has been handed over.",
    ),
    "citizen.status.withdrawn": (
        "Hồ sơ đã được rút theo đề nghị của bạn.",
        "Your dossier was withdrawn at your request.",
    ),
    "citizen.result": ("Kết quả", "The result"),
    "citizen.result_ready": (
        "Văn bản kết quả có chữ ký số của Sở. Bạn có thể tải về và lưu giữ.",
        "The result document carries the department's digital signature. Download and keep it.",
    ),
    "citizen.download_result": ("Tải văn bản kết quả (PDF)", "Download the result (PDF)"),
    "citizen.supplement": ("Nộp bổ sung giấy tờ", "Hand in the documents asked for"),
    "citizen.missing_intro": ("Cán bộ đề nghị bổ sung:", "The officer asked for:"),
    "citizen.note": ("Ghi chú cho cán bộ (không bắt buộc)", "A note for the officer (optional)"),
    "citizen.send_supplement": ("Gửi bổ sung", "Send the documents"),
    "citizen.uploads_closed": (
        "Trang này tạm thời chưa nhận tệp. Hãy mang giấy tờ đến bộ phận một cửa.",
        "This page cannot take files just now. Bring the documents to the one-stop desk.",
    ),
    "citizen.supplement_sent": (
        "Đã gửi giấy tờ bổ sung. Hồ sơ sẽ được xem xét tiếp.",
        "The documents were sent. The dossier will be examined again.",
    ),
    "citizen.close_hint": (
        "Dùng máy tính chung? Đóng hồ sơ để người sau không xem được.",
        "On a shared computer? Close the dossier so the next person cannot see it.",
    ),
    "citizen.close": ("Đóng hồ sơ", "Close the dossier"),
    # ----------------------------------------------------------------- auditor
    "nav.audit": ("Nhật ký kiểm toán", "Audit log"),
    "nav.audit_verify": ("Kiểm tra toàn vẹn", "Verify the log"),
    "nav.audit_documents": ("Kiểm tra văn bản", "Check a document"),
    "auditor.search_title": ("Tra cứu nhật ký kiểm toán", "Search the audit log"),
    "auditor.filters": ("Điều kiện tra cứu", "Search filters"),
    "auditor.dossier_id": ("Mã định danh hồ sơ", "Dossier id"),
    "auditor.actor": ("Người thực hiện", "Actor"),
    "auditor.actor_hint": (
        "Ví dụ: officer:…, desk:…, system:…",
        "For example: officer:…, desk:…, system:…",
    ),
    "auditor.event": ("Sự kiện", "Event"),
    "auditor.any_event": ("Mọi sự kiện", "Every event"),
    "auditor.from": ("Từ ngày", "From"),
    "auditor.to": ("Đến ngày", "To"),
    "auditor.search": ("Tra cứu", "Search"),
    "auditor.download": ("Tải về kết quả tra cứu", "Download the results"),
    "auditor.public_key": ("Khóa công khai (PEM)", "Public key (PEM)"),
    "auditor.caption": ("Các bản ghi theo thứ tự ghi nhật ký", "Entries in log order"),
    "auditor.trail_caption": (
        "Mọi bản ghi của hồ sơ, cũ nhất trước",
        "Every entry of the dossier, oldest first",
    ),
    "auditor.empty": ("Không có bản ghi nào.", "No entries."),
    "auditor.pages": ("Các trang kết quả", "Result pages"),
    "auditor.seq": ("Số thứ tự", "Seq"),
    "auditor.time": ("Thời điểm", "When"),
    "auditor.dossier": ("Hồ sơ", "Dossier"),
    "auditor.changes": ("Thay đổi", "What changed"),
    "auditor.trail_title": ("Vết kiểm toán của hồ sơ", "A dossier's audit trail"),
    "auditor.verify_title": ("Kiểm tra toàn vẹn nhật ký", "Verify the log"),
    "auditor.verify_intro": (
        "Tính lại chuỗi băm và cây Merkle, kiểm tra chữ ký của từng điểm kiểm soát.",
        "Recomputes the hash chain and the Merkle tree and checks every checkpoint's signature.",
    ),
    "auditor.verify.range": ("Khoảng đã kiểm tra", "Range checked"),
    "auditor.verify.entries_checked": ("Số bản ghi đã kiểm tra", "Entries checked"),
    "auditor.verify.checkpoints_checked": ("Số điểm kiểm soát đã kiểm tra", "Checkpoints checked"),
    "auditor.verify.tree_size": ("Kích thước cây", "Tree size"),
    "auditor.verify.checkpointed_size": ("Đã có chữ ký đến", "Signed up to"),
    "auditor.verify.root_hash": ("Giá trị băm gốc", "Root hash"),
    "auditor.verify.failure": (
        "Sai lệch đầu tiên ở bản ghi {seq}: {reason} — {detail}",
        "First difference at entry {seq}: {reason} — {detail}",
    ),
    "auditor.verify.passed": (
        "Nhật ký toàn vẹn: mọi kiểm tra đều đạt.",
        "The log is intact: every check passed.",
    ),
    "auditor.verify.failed": ("Nhật ký KHÔNG toàn vẹn.", "The log is NOT intact."),
    "auditor.verify.from_seq": ("Từ bản ghi số", "From entry"),
    "auditor.verify.to_seq": ("Đến bản ghi số", "To entry"),
    "auditor.verify.hint": (
        "Để trống để kiểm tra toàn bộ nhật ký.",
        "Leave both empty to check the whole log.",
    ),
    "auditor.verify.run": ("Kiểm tra", "Verify"),
    "auditor.verify.bad_range": (
        "Khoảng kiểm tra phải là số nguyên dương, số đầu không lớn hơn số cuối.",
        "The range is two positive whole numbers, the first not above the last.",
    ),
    "auditor.document_title": (
        "Kiểm tra văn bản do Sở ban hành",
        "Check a document the department issued",
    ),
    "auditor.document_intro": (
        "Tải lên tệp PDF: hệ thống kiểm tra chữ ký số và đối chiếu với nhật ký ban hành.",
        "Upload the PDF: its digital signature is checked and it is looked up in the log of "
        "issued documents.",
    ),
    "auditor.document.genuine": (
        "Văn bản đúng là do Sở ban hành và chưa bị sửa đổi.",
        "The department issued this document and it is unchanged.",
    ),
    "auditor.document.not_issued": (
        "Không có văn bản nào như thế này trong nhật ký ban hành.",
        "No document with these exact contents was issued.",
    ),
    "auditor.document.bad_signature": (
        "Văn bản có trong nhật ký ban hành nhưng chữ ký số không hợp lệ hoặc không tin cậy.",
        "The document was issued but its signature is not valid or not trusted.",
    ),
    "auditor.document.sha256": ("Giá trị băm SHA-256", "SHA-256"),
    "auditor.document.issued": ("Có trong nhật ký ban hành", "Recorded as issued"),
    "auditor.document.signature_valid": ("Chữ ký hợp lệ", "Signature valid"),
    "auditor.document.signature_trusted": ("Chữ ký tin cậy", "Signature trusted"),
    "auditor.document.signer": ("Người ký", "Signed by"),
    "auditor.document.signed_at": ("Thời điểm ký", "Signed at"),
    "auditor.document.problem": ("Vấn đề", "Problem"),
    "auditor.document.receipt_code": ("Mã hồ sơ", "Receipt code"),
    "auditor.document.decision_number": ("Số văn bản", "Decision number"),
    "auditor.document.entry": ("Bản ghi nhật ký số", "Log entry"),
    "auditor.document.proof": ("Bằng chứng", "Proof"),
    "auditor.document.file": ("Tệp PDF cần kiểm tra", "The PDF to check"),
    "auditor.document.check": ("Kiểm tra", "Check"),
    "auditor.document.choose": ("Hãy chọn một tệp PDF.", "Choose a PDF file."),
    "auditor.document.not_pdf": ("Tệp này không phải PDF.", "This file is not a PDF."),
    "auditor.proof.proven": (
        "Đã chứng minh đến một điểm kiểm soát có chữ ký",
        "Proven up to a signed checkpoint",
    ),
    "auditor.proof.awaiting_checkpoint": (
        "Đã ghi nhật ký, chờ điểm kiểm soát tiếp theo",
        "Logged, awaiting the next checkpoint",
    ),
    "auditor.proof.not_issued": ("Không có", "None"),
    "auditor.yes": ("Có", "Yes"),
    "auditor.no": ("Không", "No"),
    "auditor.event.dossier.submitted.v1": ("Nộp hồ sơ", "Dossier submitted"),
    "auditor.event.dossier.status-changed.v1": ("Đổi trạng thái", "Status changed"),
    "auditor.event.dossier.assigned.v1": ("Giao xử lý", "Assigned"),
    "auditor.event.dossier.note-added.v1": ("Thêm ghi chú", "Note added"),
    "auditor.event.dossier.supplemented.v1": ("Nộp bổ sung", "Supplemented"),
    "auditor.event.dossier.withdrawal-requested.v1": ("Đề nghị rút", "Withdrawal requested"),
    "auditor.event.dossier.deadline-extended.v1": ("Gia hạn", "Deadline extended"),
    "auditor.event.dossier.overdue.v1": ("Quá hạn", "Overdue"),
    "auditor.event.dossier.apology-issued.v1": ("Thư xin lỗi", "Apology issued"),
    "auditor.event.dossier.document-read.v1": ("Đọc tài liệu", "Document read"),
    "auditor.event.dossier.result-issued.v1": ("Ban hành kết quả", "Result issued"),
    "auditor.event.dossier.identity-resolved.v1": ("Tra danh tính", "Identity resolved"),
    "auditor.event.notification.sent.v1": ("Gửi thông báo", "Notification sent"),
    "auditor.event.notification.failed.v1": ("Gửi thông báo lỗi", "Notification failed"),
    "auditor.event.catalogue.version-activated.v1": (
        "Áp dụng phiên bản danh mục",
        "Catalogue version activated",
    ),
}


class Translator:
    """``t(key, **values)`` in one language; an unknown key shows itself, so a missing
    string is visible on the page instead of crashing it."""

    def __init__(self, lang: str, texts: Mapping[str, tuple[str, str]] = TEXTS) -> None:
        self.lang = language(lang)
        self._index = LANGUAGES.index(self.lang)
        self._texts = texts

    def __call__(self, key: str, **values: object) -> str:
        pair = self._texts.get(key)
        if pair is None:
            return key
        text = pair[self._index]
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._texts
