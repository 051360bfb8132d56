"""The admin pages in English and Vietnamese: one catalogue, the reader's language, dates, numbers and money.

A small catalogue module rather than Flask-Babel: two languages, no compile step (gettext .mo files would need one
at build time and a PyInstaller data hook), no new dependency. Every visible string is an English message id,
`_("...")` in templates (Jinja's i18n extension, new-style: values given as `_("%(name)s", name=x)` are escaped)
and `gettext("...")` in Python; `VI` maps each id to its Vietnamese text. tests/test_admin_i18n.py fails on a
template text outside `_()` and on an id without a Vietnamese entry.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, g, has_request_context, request, session

LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}
DEFAULT_LANGUAGE = "en"
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def browser_language() -> str:
    """The language the browser prefers among ours (Accept-Language), else English."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return request.accept_languages.best_match(tuple(LANGUAGES), default=DEFAULT_LANGUAGE)


def language() -> str:
    """This request's language: the signed-in user's choice, else the session's, else the browser's."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    if "lang" not in g:
        user = g.get("user")
        chosen = (user.language if user is not None else "") or session.get("lang", "")
        g.lang = chosen if chosen in LANGUAGES else browser_language()
    return g.lang


def gettext(message: str, **values) -> str:
    """`message` in this request's language, with %(name)s values filled in."""
    text = VI.get(message, message) if language() == "vi" else message
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values) -> str:
    """The singular or plural message for n (Vietnamese has one form)."""
    return gettext(singular if n == 1 else plural, **{"num": n, **values})


def error_text(code: str, message: str) -> str:
    """An error for people: the Vietnamese sentence for its code when there is one, else the English message."""
    if language() == "vi" and code in VI_ERRORS:
        return VI_ERRORS[code]
    return message


def format_number(value: float, digits: int = 0) -> str:
    """1,234.5 in English, 1.234,5 in Vietnamese."""
    text = f"{value:,.{digits}f}"
    if language() == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def format_money(amount: float, currency: str = "VND") -> str:
    """690,000 VND in English, 690.000đ in Vietnamese (the way the shops write prices); cents for other currencies."""
    if currency == "VND":
        number = format_number(round(amount))
        return number + "đ" if language() == "vi" else f"{number} VND"
    return f"{format_number(amount, 2)} {currency}"


def format_datetime(value: datetime | None, zone: str = "UTC") -> str:
    """A stored (naive UTC) time in the appliance's time zone: 29 Nov 2026, 15:40 or 29/11/2026 15:40."""
    if value is None:
        return ""
    local = value.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone))
    if language() == "vi":
        return local.strftime("%d/%m/%Y %H:%M")
    return f"{local.day} {MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M}"


def install(app: Flask) -> None:
    """Give the app's templates `_()`, the language, and the date, number and money filters."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)
    zone = app.extensions["appliance"].settings.timezone
    app.jinja_env.filters.update(number=format_number, money=format_money,
                                 datetime=lambda value: format_datetime(value, zone))
    app.context_processor(lambda: {"lang": language(), "languages": LANGUAGES})


# --- the catalogue: English message id -> Vietnamese ------------------------------------------------------

VI: dict[str, str] = {
    # shell, navigation, account
    "Skip to the page's content": "Chuyển đến nội dung trang",
    "Shop": "Cửa hàng",
    "Open": "Mở",
    "Change": "Đổi",
    "Sign out": "Đăng xuất",
    "Console": "Bảng điều khiển",
    "Overview": "Tổng quan",
    "Shops": "Cửa hàng",
    "Inbox": "Hộp thư",
    "Knowledge": "Kiến thức",
    "Assistant": "Trợ lý",
    "Channels": "Kênh",
    "Users": "Người dùng",
    "Account": "Tài khoản",
    "Language": "Ngôn ngữ",
    "Language of these pages": "Ngôn ngữ của các trang này",
    "The browser's language": "Ngôn ngữ của trình duyệt",
    "Save": "Lưu",
    "Change password": "Đổi mật khẩu",
    "Current password": "Mật khẩu hiện tại",
    "New password": "Mật khẩu mới",
    "At least 8 characters.": "Ít nhất 8 ký tự.",
    "New password again": "Nhập lại mật khẩu mới",
    "Agent": "Nhân viên",
    "Shop admin": "Quản trị cửa hàng",
    "Platform admin": "Quản trị hệ thống",
    "Something is in the way (%(status)s)": "Không thể tiếp tục (%(status)s)",
    "Back to the overview": "Về trang tổng quan",
    "Cancel": "Hủy",
    "Sign in": "Đăng nhập",
    "Sign in to %(product)s": "Đăng nhập vào %(product)s",
    "E-mail": "E-mail",
    "Password": "Mật khẩu",
    "That e-mail and password do not match; check them and try again.":
        "E-mail và mật khẩu không khớp; hãy kiểm tra và thử lại.",
    "Too many wrong passwords for this account or from this address; wait %(minutes)s minute(s) and try again.":
        "Nhập sai mật khẩu quá nhiều lần cho tài khoản này hoặc từ địa chỉ này; hãy đợi %(minutes)s phút rồi thử lại.",
    "There is no such shop.": "Không có cửa hàng này.",
    "Only the platform admin manages shops.": "Chỉ quản trị hệ thống mới quản lý các cửa hàng.",
    "This is not your current password.": "Đây không phải mật khẩu hiện tại của bạn.",
    "The two new passwords differ; type the same one twice.": "Hai mật khẩu mới khác nhau; hãy nhập cùng một mật khẩu hai lần.",
    "Your password was changed; other devices are signed out.": "Đã đổi mật khẩu; các thiết bị khác đã bị đăng xuất.",
    "This page is for admins; ask your shop's admin if you need something changed here.":
        "Trang này dành cho quản trị viên; hãy nhờ quản trị cửa hàng nếu cần thay đổi gì ở đây.",
    # overview and shops
    "No shop yet": "Chưa có cửa hàng",
    "No shop yet.": "Chưa có cửa hàng nào.",
    "Create the first shop": "Tạo cửa hàng đầu tiên",
    "Shop id": "Mã cửa hàng",
    "Webhook URL to paste": "URL webhook để dán",
    "Needs attention": "Cần xử lý",
    "Latest conversations": "Hội thoại gần đây",
    "No conversations yet.": "Chưa có hội thoại nào.",
    "API token of %(name)s": "Mã API của %(name)s",
    "Copy it now: it is shown only once.": "Hãy sao chép ngay: mã chỉ hiện một lần.",
    "New shop": "Cửa hàng mới",
    "The shop's name, as its staff know it.": "Tên cửa hàng, như nhân viên vẫn gọi.",
    "Name": "Tên",
    "Create": "Tạo",
    "Shop %(name)s created.": "Đã tạo cửa hàng %(name)s.",
    # assistant
    "The assistant answers customers": "Trợ lý trả lời khách hàng",
    "Persona": "Vai trò",
    "Who the assistant is, in one sentence; {shop} stands for the shop's name.":
        "Trợ lý là ai, trong một câu; {shop} thay cho tên cửa hàng.",
    "Tone": "Giọng điệu",
    "Such as friendly, formal or cheerful.": "Ví dụ: thân thiện, trang trọng hoặc vui vẻ.",
    "Language of the answers": "Ngôn ngữ trả lời",
    "The customer's language": "Ngôn ngữ của khách hàng",
    "Vietnamese": "Tiếng Việt",
    "English": "Tiếng Anh",
    "Instructions": "Hướng dẫn",
    "When the documents hold no answer": "Khi tài liệu không có câu trả lời",
    "Say politely that it does not know": "Lịch sự nói rằng chưa biết",
    "Hand the conversation to staff": "Chuyển hội thoại cho nhân viên",
    "Ask the cloud model": "Hỏi mô hình đám mây",
    "Recent messages to remember": "Số tin nhắn gần đây cần nhớ",
    "Empty: the appliance's default (%(n)s).": "Để trống: mặc định của hệ thống (%(n)s).",
    "Give a whole number of messages, such as 10.": "Hãy nhập một số nguyên, ví dụ 10.",
    "Reword answers with a model": "Diễn đạt lại câu trả lời bằng mô hình",
    "When the model can (instruct or cloud models)": "Khi mô hình làm được (mô hình instruct hoặc đám mây)",
    "Always, also with the small default model": "Luôn luôn, kể cả với mô hình mặc định nhỏ",
    "Never: send the passage found": "Không bao giờ: gửi đoạn văn tìm được",
    "Relevance threshold": "Ngưỡng liên quan",
    "How close in meaning (0 to 1) a passage must be to the question to answer from it; higher is stricter, and below it the assistant gives its fallback. Empty: the appliance's default (%(threshold)s).":
        "Đoạn văn phải gần nghĩa với câu hỏi đến mức nào (0 đến 1) thì mới được dùng để trả lời; càng cao càng chặt, dưới ngưỡng này trợ lý dùng câu trả lời dự phòng. Để trống: mặc định của hệ thống (%(threshold)s).",
    "Give a number from 0 to 1, such as 0.4.": "Hãy nhập một số từ 0 đến 1, ví dụ 0,4.",
    "Model": "Mô hình",
    "Model that answers": "Mô hình trả lời",
    "Local model on this machine": "Mô hình cục bộ trên máy này",
    "Cloud model": "Mô hình đám mây",
    "Local model file": "Tệp mô hình cục bộ",
    "The appliance's default": "Mặc định của hệ thống",
    "GGUF files found in the models folder.": "Các tệp GGUF trong thư mục models.",
    "Use the cloud model": "Dùng mô hình đám mây",
    "Never": "Không bao giờ",
    "When the local model fails": "Khi mô hình cục bộ gặp lỗi",
    "Always": "Luôn luôn",
    "Cloud endpoint": "Địa chỉ dịch vụ đám mây",
    "An OpenAI-compatible address starting with https://, such as https://api.openai.com/v1.":
        "Địa chỉ tương thích OpenAI bắt đầu bằng https://, ví dụ https://api.openai.com/v1.",
    "Cloud model name": "Tên mô hình đám mây",
    "Cloud API key": "Khóa API đám mây",
    "A key is stored; leave this empty to keep it.": "Đã lưu một khóa; để trống để giữ nguyên.",
    "No key is stored.": "Chưa lưu khóa nào.",
    "Remove the stored key": "Xóa khóa đã lưu",
    "The assistant's settings were saved.": "Đã lưu thiết lập của trợ lý.",
    "Try the assistant": "Thử trợ lý",
    "A customer's question": "Câu hỏi của khách hàng",
    "Ask": "Hỏi",
    "Reply": "Câu trả lời",
    "Made by: %(path)s": "Cách tạo: %(path)s",
    "%(ms)s ms": "%(ms)s ms",
    "A reworded answer was not sent: %(why)s": "Câu trả lời diễn đạt lại không được gửi: %(why)s",
    "Sources": "Nguồn",
    "No sources.": "Không có nguồn.",
    "page %(n)s": "trang %(n)s",
    "score": "điểm",
    # channels
    "Web chat": "Chat trên web",
    "No channels yet.": "Chưa có kênh nào.",
    "Channel": "Kênh",
    "State": "Trạng thái",
    "Address": "Địa chỉ",
    "Actions": "Thao tác",
    "Enter new credentials to make it active again.": "Nhập thông tin xác thực mới để kích hoạt lại.",
    "Embed code": "Mã nhúng",
    "Edit": "Sửa",
    "Disconnect": "Ngắt kết nối",
    "Connect a channel": "Kết nối một kênh",
    "Connect": "Kết nối",
    "Connect %(platform)s": "Kết nối %(platform)s",
    "Edit %(name)s": "Sửa %(name)s",
    "Credentials are never shown. Leave a field empty to keep what is stored; fill it in to replace it.":
        "Thông tin xác thực không bao giờ được hiển thị. Để trống một ô để giữ giá trị đã lưu; điền vào để thay thế.",
    "How your staff will recognise this channel.": "Tên để nhân viên nhận ra kênh này.",
    "%(label)s (optional)": "%(label)s (không bắt buộc)",
    "%(name)s is connected": "%(name)s đã được kết nối",
    "%(name)s is connected.": "%(name)s đã được kết nối.",
    "%(name)s was saved.": "Đã lưu %(name)s.",
    "%(name)s was disconnected.": "Đã ngắt kết nối %(name)s.",
    "Disconnect %(name)s?": "Ngắt kết nối %(name)s?",
    "Customers writing there get no answers any more; its conversations stay. Its credentials are forgotten.":
        "Khách nhắn tin ở đó sẽ không còn được trả lời; các hội thoại vẫn được giữ. Thông tin xác thực bị xóa.",
    "This channel was disconnected.": "Kênh này đã bị ngắt kết nối.",
    "There is no such platform.": "Không có nền tảng này.",
    "Paste this just before the closing body tag of every page of your site:":
        "Dán đoạn này ngay trước thẻ đóng body của mọi trang trên website của bạn:",
    "Paste this address into the platform's webhook settings:": "Dán địa chỉ này vào phần cài đặt webhook của nền tảng:",
    "Webhook URL": "URL webhook",
    "Verify token": "Mã xác minh",
    "Copy it now: credentials are never shown again.": "Hãy sao chép ngay: thông tin xác thực sẽ không hiện lại.",
    "Telegram accepted the webhook.": "Telegram đã nhận webhook.",
    "Back to the channels": "Về danh sách kênh",
    "Phone number ID": "ID số điện thoại",
    "Meta app → WhatsApp → API Setup: the ID under the phone number.": "Ứng dụng Meta → WhatsApp → API Setup: ID dưới số điện thoại.",
    "Access token": "Mã truy cập",
    "A permanent token of a system user with the whatsapp_business_messaging permission (Zalo: the OA access token).":
        "Mã vĩnh viễn của một system user có quyền whatsapp_business_messaging (Zalo: mã truy cập của OA).",
    "App secret": "App secret",
    "Meta app → App settings → Basic → App secret; it checks that updates come from the platform.":
        "Ứng dụng Meta → App settings → Basic → App secret; dùng để kiểm tra dữ liệu đến từ nền tảng.",
    "Any text you choose; paste the same text in the platform's webhook settings. One is suggested.":
        "Chuỗi bất kỳ bạn chọn; dán đúng chuỗi đó vào cài đặt webhook của nền tảng. Đã gợi ý sẵn một chuỗi.",
    "Template outside the reply window": "Mẫu tin ngoài khung thời gian trả lời",
    "Optional: the approved template (Messenger: the message tag) used when the customer last wrote too long ago.":
        "Không bắt buộc: mẫu tin đã duyệt (Messenger: thẻ tin nhắn) dùng khi khách nhắn lần cuối đã quá lâu.",
    "Template language": "Ngôn ngữ mẫu tin",
    "Optional, such as vi or en_US.": "Không bắt buộc, ví dụ vi hoặc en_US.",
    "Page ID": "ID trang",
    "Your Facebook page's ID (page → About).": "ID trang Facebook của bạn (trang → Giới thiệu).",
    "Page access token": "Mã truy cập trang",
    "Meta app → Messenger → Settings: the token generated for the page.": "Ứng dụng Meta → Messenger → Settings: mã được tạo cho trang.",
    "OA ID": "ID OA",
    "Zalo OA manager → the official account's ID.": "Trang quản lý Zalo OA → ID của tài khoản chính thức.",
    "App ID": "App ID",
    "Zalo developer console → your app's ID.": "Zalo for Developers → ID ứng dụng của bạn.",
    "OA secret key": "Khóa bí mật OA",
    "Zalo developer console → Webhook: the OA secret key that signs updates.": "Zalo for Developers → Webhook: khóa bí mật OA dùng để ký dữ liệu.",
    "Refresh token": "Mã làm mới",
    "Optional: lets the appliance renew the access token by itself.": "Không bắt buộc: để hệ thống tự gia hạn mã truy cập.",
    "Bot token": "Mã bot",
    "From @BotFather, such as 123456:ABC-DEF.": "Lấy từ @BotFather, ví dụ 123456:ABC-DEF.",
    "Secret token": "Mã bí mật",
    "Letters, digits, _ and -; Telegram sends it with every update. One is suggested.":
        "Chữ cái, chữ số, _ và -; Telegram gửi kèm mỗi cập nhật. Đã gợi ý sẵn một mã.",
    "In your Meta app, open WhatsApp → API Setup and Configuration; copy the values below from there. After connecting you get the callback URL to paste there.":
        "Trong ứng dụng Meta, mở WhatsApp → API Setup và Configuration; sao chép các giá trị bên dưới từ đó. Sau khi kết nối, bạn sẽ có callback URL để dán vào đó.",
    "In your Meta app, open Messenger → Settings; copy the values below from there. After connecting you get the callback URL to paste there, and subscribe to messages, messaging_postbacks, message_deliveries, message_reads and message_echoes.":
        "Trong ứng dụng Meta, mở Messenger → Settings; sao chép các giá trị bên dưới từ đó. Sau khi kết nối, bạn sẽ có callback URL để dán vào đó, rồi đăng ký messages, messaging_postbacks, message_deliveries, message_reads và message_echoes.",
    "In the Zalo developer console, open your app and its official account; copy the values below from there. After connecting you get the webhook URL to paste there.":
        "Trong Zalo for Developers, mở ứng dụng và tài khoản chính thức của bạn; sao chép các giá trị bên dưới từ đó. Sau khi kết nối, bạn sẽ có URL webhook để dán vào đó.",
    "Create a bot with @BotFather and paste its token. With an https public address the appliance registers the webhook itself.":
        "Tạo bot với @BotFather và dán mã của bot. Khi có địa chỉ công khai https, hệ thống tự đăng ký webhook.",
    "A chat bubble for your own website. After connecting you get the code to paste into your pages.":
        "Bong bóng chat cho website của bạn. Sau khi kết nối, bạn sẽ có đoạn mã để dán vào các trang.",
    # knowledge
    "The assistant answers from these documents.": "Trợ lý trả lời dựa trên các tài liệu này.",
    "Add a document": "Thêm tài liệu",
    "A .txt, .md, .csv or .pdf file. A price list works best as a .csv with one product per row.":
        "Tệp .txt, .md, .csv hoặc .pdf. Bảng giá nên là tệp .csv, mỗi dòng một sản phẩm.",
    "Upload": "Tải lên",
    "Documents": "Tài liệu",
    "No documents yet.": "Chưa có tài liệu nào.",
    "Document": "Tài liệu",
    "Status": "Trạng thái",
    "Chunks": "Số đoạn",
    "Added": "Ngày thêm",
    "%(size)s KB": "%(size)s KB",
    "Progress": "Tiến độ",
    "Delete": "Xóa",
    "Upload a new version": "Tải lên phiên bản mới",
    "Replace": "Thay thế",
    "Try a search": "Thử tìm kiếm",
    "Question or words": "Câu hỏi hoặc từ khóa",
    "Search": "Tìm",
    "Nothing found.": "Không tìm thấy gì.",
    "relevant": "liên quan",
    "below the threshold": "dưới ngưỡng",
    "Waiting": "Đang chờ",
    "Reading": "Đang đọc",
    "Ready": "Sẵn sàng",
    "Failed": "Thất bại",
    "Active": "Đang hoạt động",
    "%(name)s is already in the knowledge base with the same content.": "%(name)s đã có trong kho kiến thức với cùng nội dung.",
    "%(name)s was uploaded; it is being read now.": "Đã tải lên %(name)s; hệ thống đang đọc tài liệu.",
    "%(name)s was not replaced: %(reason)s": "Chưa thay thế %(name)s: %(reason)s",
    "%(name)s was deleted from the knowledge base.": "Đã xóa %(name)s khỏi kho kiến thức.",
    "Delete %(name)s?": "Xóa %(name)s?",
    "The assistant stops using it at once. This cannot be undone.": "Trợ lý sẽ ngừng dùng tài liệu này ngay. Không thể hoàn tác.",
    # users
    "No staff yet.": "Chưa có nhân viên nào.",
    "Role": "Vai trò",
    "Reset password": "Đặt lại mật khẩu",
    "Remove": "Xóa",
    "Add a staff member": "Thêm nhân viên",
    "Agent: answers customers in the inbox": "Nhân viên: trả lời khách trong hộp thư",
    "Shop admin: also sets up the shop": "Quản trị cửa hàng: cũng thiết lập cửa hàng",
    "At least 8 characters; tell it to them, they can change it under Account.":
        "Ít nhất 8 ký tự; hãy báo cho họ, họ có thể đổi trong mục Tài khoản.",
    "Add": "Thêm",
    "Choose agent or shop admin.": "Hãy chọn nhân viên hoặc quản trị cửa hàng.",
    "%(email)s can sign in now.": "%(email)s có thể đăng nhập ngay bây giờ.",
    "%(email)s has a new password and was signed out everywhere.": "%(email)s đã có mật khẩu mới và bị đăng xuất khỏi mọi thiết bị.",
    "The password of %(email)s was not changed: %(reason)s": "Chưa đổi mật khẩu của %(email)s: %(reason)s",
    "%(email)s was removed.": "Đã xóa %(email)s.",
    "Remove %(email)s?": "Xóa %(email)s?",
    "They can no longer sign in; the conversations they answered stay.": "Họ sẽ không đăng nhập được nữa; các hội thoại họ đã trả lời vẫn được giữ.",
    # demo page
    "%(shop)s — chat demo": "%(shop)s — thử chat",
    "This page shows the chat bubble your customers see. Click it in the corner and ask something.":
        "Trang này hiển thị bong bóng chat mà khách hàng của bạn thấy. Bấm vào nó ở góc màn hình và hỏi thử.",
    "To put it on your own site, paste this just before the closing body tag:":
        "Để đưa nó lên website của bạn, dán đoạn này ngay trước thẻ đóng body:",
    "Admin page": "Trang quản trị",
    "Once the address is pasted, check that the platform can reach it:":
        "Sau khi dán địa chỉ, hãy kiểm tra xem nền tảng có truy cập được không:",
    "Check the webhook": "Kiểm tra webhook",
    "Only WhatsApp and Messenger channels have a webhook check.": "Chỉ kênh WhatsApp và Messenger có kiểm tra webhook.",
    "The webhook answered the handshake at %(url)s: the platform can verify it.":
        "Webhook tại %(url)s đã trả lời bước xác minh: nền tảng có thể xác minh nó.",
    "The webhook check failed: %(reason)s": "Kiểm tra webhook thất bại: %(reason)s",
    "%(url)s answered with status %(status)s instead of the challenge; check that this address reaches the appliance (not another server or a login page).":
        "%(url)s trả về mã %(status)s thay vì chuỗi xác minh; hãy kiểm tra địa chỉ này dẫn đến hệ thống (không phải máy chủ khác hay trang đăng nhập).",
    "%(url)s could not be reached (%(error)s); check the public_url setting and that this address reaches the appliance from the internet.":
        "Không truy cập được %(url)s (%(error)s); hãy kiểm tra thiết lập public_url và địa chỉ này có dẫn đến hệ thống từ internet không.",
    # the chat widget (customers see these)
    "Chat": "Chat",
    "Open chat": "Mở khung chat",
    "Type your message…": "Nhập tin nhắn…",
    "Send": "Gửi",
    "Could not send.": "Không gửi được.",
    "Could not reach the shop's chat; try again.": "Không kết nối được với cửa hàng; hãy thử lại.",
    # first-run wizard
    "Next step": "Bước tiếp theo",
    "Finish setting up this shop": "Hoàn tất thiết lập cửa hàng này",
    "A few steps: connect a channel, upload documents, choose the model and try the assistant.":
        "Vài bước: kết nối một kênh, tải tài liệu lên, chọn mô hình và thử trợ lý.",
    "Continue the set-up": "Tiếp tục thiết lập",
    "Set up %(name)s": "Thiết lập %(name)s",
    "Step %(n)s of %(total)s. You can leave and come back: the overview brings you back here.":
        "Bước %(n)s trên %(total)s. Bạn có thể rời đi và quay lại: trang tổng quan sẽ đưa bạn về đây.",
    "Set-up steps": "Các bước thiết lập",
    "Upload documents": "Tải tài liệu lên",
    "Choose the model": "Chọn mô hình",
    "Done": "Hoàn tất",
    "Where do your customers write to you? Connect one place now; you can add the others later under Channels.":
        "Khách hàng nhắn tin cho bạn ở đâu? Hãy kết nối một nơi ngay bây giờ; bạn có thể thêm các nơi khác sau trong mục Kênh.",
    "Your price list, opening hours, delivery and return rules: the assistant answers only from what is written here.":
        "Bảng giá, giờ mở cửa, quy định giao hàng và đổi trả: trợ lý chỉ trả lời dựa trên những gì được viết ở đây.",
    "%(n)s chunks": "%(n)s đoạn",
    "The local model runs on this machine and nothing leaves it. A cloud model (any OpenAI-compatible service) can reword answers or stand in when the local one fails.":
        "Mô hình cục bộ chạy trên máy này và không có dữ liệu nào rời khỏi máy. Mô hình đám mây (bất kỳ dịch vụ tương thích OpenAI nào) có thể diễn đạt lại câu trả lời hoặc thay thế khi mô hình cục bộ gặp lỗi.",
    "Save and continue": "Lưu và tiếp tục",
    "Ask what your customers ask. Each reply shows where it came from.":
        "Hãy hỏi như khách hàng của bạn hỏi. Mỗi câu trả lời cho biết nó lấy từ đâu.",
    "Put the chat bubble on your website: paste this just before the closing body tag of every page.":
        "Đưa bong bóng chat lên website: dán đoạn này ngay trước thẻ đóng body của mọi trang.",
    "No chat bubble for your website yet.": "Website của bạn chưa có bong bóng chat.",
    "Add one": "Thêm ngay",
    "Finish": "Hoàn tất",
    "Open the inbox": "Mở hộp thư",
    "%(name)s is set up. Customers can write now.": "%(name)s đã được thiết lập. Khách hàng có thể nhắn tin ngay.",
    # the Inbox (admin_inbox.py, inbox.html, conversation.html)
    "Only the shop's staff can take a conversation over; assign it to one of them.":
        "Chỉ nhân viên của cửa hàng mới tiếp nhận được cuộc trò chuyện; hãy giao cho một người trong số họ.",
    "%(email)s has this conversation now.": "%(email)s đang phụ trách cuộc trò chuyện này.",
    "A person answers": "Nhân viên trả lời",
    "All channels": "Mọi kênh",
    "Any status": "Mọi trạng thái",
    "Assign": "Giao",
    "Assign to": "Giao cho",
    "Assigned to me": "Giao cho tôi",
    "Automation": "Tự động",
    "Back to the inbox": "Quay lại hộp thư",
    "Bot": "Trợ lý",
    "Bot answers": "Trợ lý trả lời",
    "Choose a user of this shop.": "Hãy chọn một người dùng của cửa hàng này.",
    "Close": "Đóng",
    "Closed": "Đã đóng",
    "Customer": "Khách hàng",
    "Delivered": "Đã nhận",
    "Filter": "Lọc",
    "First seen": "Lần đầu liên hệ",
    "Hand back to the bot": "Trả lại cho trợ lý",
    "Last message from the customer": "Tin nhắn gần nhất của khách",
    "Messages": "Tin nhắn",
    "New conversation": "Cuộc trò chuyện mới",
    "Nothing changed: %(reason)s.": "Không có gì thay đổi: %(reason)s.",
    "Older conversations": "Các cuộc trò chuyện cũ hơn",
    "Read": "Đã xem",
    "Received": "Đã nhận được",
    "Sending": "Đang gửi",
    "Sent": "Đã gửi",
    "Some updates were missed; reload the page.": "Đã bỏ lỡ một số cập nhật; hãy tải lại trang.",
    "Staff": "Nhân viên",
    "Take over": "Tiếp nhận",
    "The bot answers this customer again.": "Trợ lý sẽ trả lời khách hàng này trở lại.",
    "The conversation is closed.": "Cuộc trò chuyện đã được đóng.",
    "The customer last wrote more than this channel's free reply window ago, so only an approved template may be sent now, and this channel has none set up. Add a window template under Channels, or wait until the customer writes again.": "Khách nhắn lần cuối đã quá thời hạn trả lời tự do của kênh này, nên lúc này chỉ được gửi mẫu tin đã duyệt, mà kênh này chưa có mẫu nào. Hãy thêm mẫu tin trong mục Kênh, hoặc đợi khách nhắn lại.",
    "The customer last wrote more than this channel's free reply window ago, so only an approved template may be sent now: your text goes as the template %(name)s.": "Khách nhắn lần cuối đã quá thời hạn trả lời tự do của kênh này, nên lúc này chỉ được gửi mẫu tin đã duyệt: nội dung của bạn sẽ được gửi theo mẫu %(name)s.",
    "Send as template %(name)s": "Gửi theo mẫu %(name)s",
    "The reply was not sent: %(reason)s": "Chưa gửi được câu trả lời: %(reason)s",
    "This conversation is closed; it starts again when the customer writes.": "Cuộc trò chuyện này đã đóng; nó sẽ mở lại khi khách nhắn tin.",
    "Waiting for a person": "Đang chờ nhân viên",
    "Who answers": "Ai trả lời",
    "Why did the bot say this?": "Vì sao trợ lý trả lời như vậy?",
    "Write a reply of 1 to %(n)s characters.": "Hãy viết câu trả lời dài từ 1 đến %(n)s ký tự.",
    "You have this conversation now; the bot stays silent.": "Bạn đang phụ trách cuộc trò chuyện này; trợ lý sẽ im lặng.",
    "Your reply": "Câu trả lời của bạn",
    "a person has it already": "đã có nhân viên phụ trách",
    "it is closed; it starts again when the customer writes": "cuộc trò chuyện đã đóng; nó mở lại khi khách nhắn tin",
    "it is waiting for a person": "cuộc trò chuyện đang chờ nhân viên",
    "never": "chưa bao giờ",
    "the bot has it": "trợ lý đang trả lời",
    # automation: rules, flows, starter packs, A/B tests (admin_automation.py, rules/rule_form/flows/flow.html)
    "%(n)s customers in it now": "%(n)s khách đang ở trong luồng",
    "%(n)s seconds": "%(n)s giây",
    "%(name)s is active.": "%(name)s đã được bật.",
    "%(name)s is inactive; customers in it now finish it.": "%(name)s đã tắt; khách đang ở trong luồng vẫn đi hết luồng.",
    "%(name)s is off.": "%(name)s đã tắt.",
    "%(name)s is on.": "%(name)s đã bật.",
    "%(name)s was not activated: %(reason)s": "Chưa bật được %(name)s: %(reason)s",
    "(%(n)s buttons)": "(%(n)s nút)",
    "A button or quick reply tapped": "Khách bấm một nút hoặc trả lời nhanh",
    "A customer's message": "Tin nhắn của khách",
    "A file exported from this page or written by hand.": "Tệp đã xuất từ trang này hoặc tự viết.",
    "A flow": "Một luồng",
    "A flow is a conversation in steps: it sends messages, asks questions and waits for the answers. Editing a flow makes a new version; customers in the middle of it finish on theirs.": "Luồng là một cuộc trò chuyện theo từng bước: gửi tin, hỏi khách và chờ câu trả lời. Sửa một luồng sẽ tạo phiên bản mới; khách đang ở giữa luồng vẫn đi hết phiên bản của họ.",
    "A flow is one JSON object in curly brackets, with its name, triggers, start and steps.": "Một luồng là một đối tượng JSON trong dấu ngoặc nhọn, gồm tên, điều kiện bắt đầu (triggers), bước đầu (start) và các bước (steps).",
    "A flow's JSON file": "Tệp JSON của luồng",
    "A flow's JSON may be up to %(n)s characters long.": "JSON của một luồng dài tối đa %(n)s ký tự.",
    "A list such as [{\"type\": \"tag\", \"tag\": \"asked-price\"}] or a reply with buttons: [{\"type\": \"reply\", \"text\": \"Book?\", \"buttons\": [{\"id\": \"BOOK\", \"title\": \"Book\"}]}]; empty: none.": "Một danh sách, ví dụ [{\"type\": \"tag\", \"tag\": \"hoi-gia\"}] hoặc câu trả lời có nút: [{\"type\": \"reply\", \"text\": \"Đặt lịch?\", \"buttons\": [{\"id\": \"BOOK\", \"title\": \"Đặt lịch\"}]}]; để trống: không có.",
    "A list such as [{\"type\": \"tag\", \"tag\": \"vip\", \"present\": true}] or [{\"type\": \"time\", \"days\": [0, 1, 2, 3, 4], \"from\": \"08:00\", \"to\": \"21:00\", \"inside\": true}]; empty: none.": "Một danh sách, ví dụ [{\"type\": \"tag\", \"tag\": \"vip\", \"present\": true}] hoặc [{\"type\": \"time\", \"days\": [0, 1, 2, 3, 4], \"from\": \"08:00\", \"to\": \"21:00\", \"inside\": true}]; để trống: không có.",
    "A pattern (regular expression)": "Một mẫu (biểu thức chính quy)",
    "A rule": "Một quy tắc",
    "A/B test": "Thử nghiệm A/B",
    "A/B test %(name)s with %(n)s variants": "Thử nghiệm A/B %(name)s với %(n)s phương án",
    "A/B tests": "Thử nghiệm A/B",
    "Activate": "Bật",
    "All flows": "Tất cả các luồng",
    "An event": "Một sự kiện",
    "Answer %(op)s %(value)s": "Câu trả lời %(op)s %(value)s",
    "Any channel": "Mọi kênh",
    "Between %(start)s and %(end)s": "Từ %(start)s đến %(end)s",
    "Button payload": "Mã của nút",
    "Button tapped: %(payload)s": "Khách bấm nút: %(payload)s",
    "Call the webhook %(url)s": "Gọi webhook %(url)s",
    "Capitals and accents do not matter: gia matches giá and GIÁ.": "Chữ hoa và dấu không quan trọng: gia khớp với giá và GIÁ.",
    "Channel: %(channels)s": "Kênh: %(channels)s",
    "Choose a file or paste a flow's JSON.": "Hãy chọn một tệp hoặc dán JSON của luồng.",
    "Condition": "Điều kiện",
    "Converted": "Đạt mục tiêu",
    "Customers in it leave it, and rules that start it do nothing. This cannot be undone.": "Khách đang ở trong luồng sẽ rời luồng, và các quy tắc mở luồng này sẽ không làm gì. Không thể hoàn tác.",
    "Customers in it now": "Khách đang ở trong luồng",
    "Deactivate": "Tắt",
    "Delete the flow %(name)s?": "Xóa luồng %(name)s?",
    "Delete the rule %(name)s?": "Xóa quy tắc %(name)s?",
    "Does": "Làm gì",
    "Edit as JSON": "Sửa dạng JSON",
    "Edit rule": "Sửa quy tắc",
    "End": "Kết thúc",
    "Event": "Sự kiện",
    "Export JSON": "Xuất JSON",
    "Field %(field)s %(op)s %(value)s": "Trường %(field)s %(op)s %(value)s",
    "Flow": "Luồng",
    "Flows": "Luồng hội thoại",
    "For you, such as Price question; customers never see it.": "Để bạn nhận ra, ví dụ Hỏi giá; khách không bao giờ thấy tên này.",
    "Hand off": "Chuyển nhân viên",
    "Hand off to staff": "Chuyển cho nhân viên",
    "New flow or import": "Luồng mới hoặc nhập luồng",
    "Edit the small flow below and save it, or choose a file exported from a flows page. A new flow starts inactive: activate it when it is ready.": "Sửa luồng mẫu nhỏ bên dưới rồi lưu, hoặc chọn một tệp đã xuất từ trang luồng. Luồng mới ở trạng thái tắt: hãy bật khi đã sẵn sàng.",
    "Save the new flow": "Lưu luồng mới",
    "New flow": "Luồng mới",
    "book": "đặt lịch",
    "Which phone number can we call you on?": "Shop gọi lại cho bạn theo số điện thoại nào ạ?",
    "Thank you! We will call you soon.": "Cảm ơn bạn! Shop sẽ gọi lại sớm ạ.",
    "Inactive": "Đang tắt",
    "Install %(name)s": "Cài %(name)s",
    "Pages of rules": "Các trang quy tắc",
    "Rules %(first)s–%(last)s of %(total)s": "Quy tắc %(first)s–%(last)s trong %(total)s",
    "Earlier rules": "Các quy tắc trước",
    "Later rules": "Các quy tắc sau",
    "Type a message of up to %(n)s characters.": "Hãy nhập tin nhắn dài tối đa %(n)s ký tự.",
    "This JSON is nested too deeply; a rule needs only a few levels.": "JSON này lồng nhau quá sâu; một quy tắc chỉ cần vài cấp.",
    "This JSON is nested too deeply; a flow needs only a few levels.": "JSON này lồng nhau quá sâu; một luồng chỉ cần vài cấp.",
    "(template %(name)s)": "(mẫu tin %(name)s)",
    "starts the flow": "mở luồng",
    "%(rules)s rules, %(flows)s flows": "%(rules)s quy tắc, %(flows)s luồng",
    "Your shop's details (optional)": "Thông tin cửa hàng của bạn (không bắt buộc)",
    "Installed: %(rules)s rules and %(flows)s flows.": "Đã cài: %(rules)s quy tắc và %(flows)s luồng.",
    "It stops answering at once. This cannot be undone.": "Quy tắc ngừng trả lời ngay. Không thể hoàn tác.",
    "JSON": "JSON",
    "Jump": "Chuyển bước",
    "Keywords": "Từ khóa",
    "Keywords in the message": "Từ khóa trong tin nhắn",
    "Keywords, one per line": "Từ khóa, mỗi dòng một từ",
    "Last match": "Lần khớp gần nhất",
    "Let the assistant answer": "Để trợ lý trả lời",
    "Let the rules below run too after this one": "Sau quy tắc này vẫn chạy tiếp các quy tắc bên dưới",
    "Matches": "Số lần khớp",
    "Message %(mode)s %(keywords)s": "Tin nhắn %(mode)s %(keywords)s",
    "Message matches the pattern %(pattern)s": "Tin nhắn khớp mẫu %(pattern)s",
    "More actions (JSON, advanced)": "Thêm hành động (JSON, nâng cao)",
    "More conditions (JSON, advanced)": "Thêm điều kiện (JSON, nâng cao)",
    "Move %(name)s down": "Chuyển %(name)s xuống",
    "Move %(name)s up": "Chuyển %(name)s lên",
    "New rule": "Quy tắc mới",
    "Next: %(step)s": "Tiếp theo: %(step)s",
    "No A/B tests yet: add an ab action to a rule or an ab step to a flow.": "Chưa có thử nghiệm A/B: hãy thêm hành động ab vào một quy tắc hoặc bước ab vào một luồng.",
    "No flows yet.": "Chưa có luồng nào.",
    "No rules yet.": "Chưa có quy tắc nào.",
    "None ticked: every channel.": "Không chọn kênh nào: mọi kênh.",
    "Nothing more": "Không làm gì thêm",
    "Off": "Tắt",
    "On": "Bật",
    "On the schedule %(cron)s": "Theo lịch %(cron)s",
    "On: the rule answers customers": "Bật: quy tắc trả lời khách",
    "Only for a button match: the id of the button, such as BOOK.": "Chỉ dùng khi khớp theo nút: mã của nút, ví dụ BOOK.",
    "Only for a pattern match, such as ^(price|cost)$ for exactly one of two words.": "Chỉ dùng khi khớp theo mẫu, ví dụ ^(giá|bao nhiêu)$ cho đúng một trong hai từ.",
    "Only if": "Chỉ khi",
    "Only when a rule starts it": "Chỉ khi một quy tắc mở luồng này",
    "Or write or paste its JSON": "Hoặc viết hay dán JSON của luồng",
    "Order": "Thứ tự",
    "Outside %(start)s–%(end)s": "Ngoài giờ %(start)s–%(end)s",
    "Pattern": "Mẫu",
    "Problems": "Vấn đề",
    "Rate": "Tỉ lệ",
    "Reached": "Đã tiếp cận",
    "Ready-made rules and flows for a kind of shop, in Vietnamese and English. Installing adds them at the end of your lists; edit them afterwards like your own.": "Quy tắc và luồng soạn sẵn cho từng loại cửa hàng, bằng tiếng Việt và tiếng Anh. Khi cài, chúng được thêm vào cuối danh sách; sau đó bạn sửa như của mình.",
    "Remove tag": "Bỏ nhãn",
    "Remove the tag %(tag)s": "Bỏ nhãn %(tag)s",
    "Replies": "Câu trả lời",
    "Reply with": "Trả lời bằng",
    "Reply: %(text)s": "Trả lời: %(text)s",
    "Rule": "Quy tắc",
    "Rules": "Quy tắc",
    "Rules answer at once, without the model: the first rule that matches a message wins, from the top of the list.": "Quy tắc trả lời ngay, không cần mô hình: quy tắc đầu tiên khớp với tin nhắn, tính từ đầu danh sách, sẽ trả lời.",
    "Save a new version": "Lưu thành phiên bản mới",
    "Saving checks the flow first; problems are shown next to their step above. A saved change makes a new version.": "Khi lưu, luồng được kiểm tra trước; vấn đề hiện ngay cạnh bước tương ứng ở trên. Mỗi lần lưu tạo một phiên bản mới.",
    "Send the template %(name)s": "Gửi mẫu tin %(name)s",
    "Set %(field)s to %(value)s": "Đặt %(field)s thành %(value)s",
    "Set field": "Đặt trường",
    "Staff (the customer asked for a person)": "Nhân viên (khách muốn gặp người thật)",
    "Start the flow %(name)s": "Mở luồng %(name)s",
    "Starter packs": "Gói khởi đầu",
    "Starts when": "Bắt đầu khi",
    "Step %(step)s: %(message)s": "Bước %(step)s: %(message)s",
    "Steps": "Các bước",
    "Tag": "Gắn nhãn",
    "Tag %(tag)s": "Gắn nhãn %(tag)s",
    "Test": "Thử",
    "Test a message": "Thử một tin nhắn",
    "The assistant": "Trợ lý",
    "The flow %(name)s was deleted.": "Đã xóa luồng %(name)s.",
    "The flow %(name)s was imported.": "Đã nhập luồng %(name)s.",
    "The flow %(name)s was saved as a new version.": "Đã lưu luồng %(name)s thành phiên bản mới.",
    "The flow's JSON": "JSON của luồng",
    "The message contains one of them": "Tin nhắn có chứa một trong các từ khóa",
    "The message is exactly one of them": "Tin nhắn đúng bằng một trong các từ khóa",
    "The message starts with one of them": "Tin nhắn bắt đầu bằng một trong các từ khóa",
    "The pack was not installed: %(reason)s": "Chưa cài được gói: %(reason)s",
    "The rule %(name)s was deleted.": "Đã xóa quy tắc %(name)s.",
    "The rule %(name)s was saved.": "Đã lưu quy tắc %(name)s.",
    "The rule matches": "Quy tắc khớp với",
    "The text sent to the customer; empty: no text reply.": "Nội dung gửi cho khách; để trống: không trả lời bằng chữ.",
    "Then": "Sau đó",
    "This is not valid JSON (line %(line)s, column %(column)s): check the quotes, commas and brackets.": "Đây không phải JSON hợp lệ (dòng %(line)s, cột %(column)s): hãy kiểm tra dấu ngoặc kép, dấu phẩy và dấu ngoặc.",
    "Too few customers to compare yet.": "Chưa đủ khách để so sánh.",
    "Turn off": "Tắt",
    "Turn on": "Bật",
    "Type what a customer might write: see which rule or flow would answer and why. Nothing is sent and no count changes.": "Nhập điều khách có thể viết: xem quy tắc hay luồng nào sẽ trả lời và vì sao. Không có gì được gửi và không số đếm nào thay đổi.",
    "Variant": "Phương án",
    "Version": "Phiên bản",
    "Wait": "Chờ",
    "Webhook": "Webhook",
    "Website chat": "Chat trên website",
    "Weight": "Tỉ trọng",
    "When": "Khi",
    "When %(event)s": "Khi %(event)s",
    "Who would answer": "Ai sẽ trả lời",
    "Why": "Vì sao",
    "With the tag %(tag)s": "Có nhãn %(tag)s",
    "Without the tag %(tag)s": "Không có nhãn %(tag)s",
    "Write a list in square brackets with one {...} object per item.": "Hãy viết một danh sách trong dấu ngoặc vuông, mỗi mục là một đối tượng {...}.",
    "a closed conversation is reopened": "cuộc trò chuyện đã đóng được mở lại",
    "always": "luôn luôn",
    "contains": "có chứa",
    "is": "là",
    "is exactly": "đúng bằng",
    "is not": "không là",
    "is not set": "chưa có",
    "is set": "đã có",
    "later rules run too": "các quy tắc sau vẫn chạy",
    "not enough evidence of a difference yet": "chưa đủ bằng chứng về sự khác biệt",
    "otherwise": "ngược lại",
    "start": "bắt đầu",
    "starts with": "bắt đầu bằng",
    "the customer follows the page": "khách theo dõi trang",
    "the customer opts in": "khách đồng ý nhận tin",
    "the customer unfollows the page": "khách bỏ theo dõi trang",
    "the customer's first message": "tin nhắn đầu tiên của khách",
    "the difference is unlikely to be chance": "sự khác biệt khó có thể là ngẫu nhiên",
    "version %(n)s": "phiên bản %(n)s",
    "%(variant)s against %(first)s: z = %(z)s, p = %(p)s": "%(variant)s so với %(first)s: z = %(z)s, p = %(p)s",
}

# Errors of the API's checks (appliance.auth, web/api.py, web/knowledge.py) by their code: the English message
# names specifics (which field, which limit); the Vietnamese one says what to do. The console's own errors are
# translated where they are raised (gettext) and use codes that are not listed here.
VI_ERRORS: dict[str, str] = {
    "bad_request": "Không đọc được yêu cầu; hãy tải lại trang và thử lại.",
    "forbidden": "Bạn không có quyền làm việc này.",
    "not_found": "Không có gì ở địa chỉ này.",
    "too_large": "Dữ liệu gửi lên lớn hơn mức hệ thống cho phép.",
    "rate_limited": "Quá nhiều yêu cầu; hãy đợi rồi thử lại.",
    "internal_error": "Hệ thống gặp lỗi; nhật ký có chi tiết.",
    "invalid_email": "Hãy nhập e-mail của người dùng, ví dụ chu@example.com.",
    "weak_password": "Mật khẩu cần ít nhất 8 ký tự.",
    "email_taken": "Đã có người dùng với e-mail này.",
    "invalid_role": "Hãy chọn nhân viên hoặc quản trị cửa hàng.",
    "invalid_min_similarity": "Ngưỡng liên quan phải là một số từ 0 đến 1, hoặc để trống để dùng mặc định của hệ thống.",
    "cannot_remove_self": "Bạn không thể tự xóa tài khoản của mình; hãy nhờ quản trị viên khác.",
    "invalid_name": "Hãy đặt tên dài từ 1 đến 200 ký tự.",
    "missing_credentials": "Thiếu thông tin xác thực bắt buộc; hãy điền đủ các ô bắt buộc.",
    "invalid_credentials": "Thông tin xác thực không hợp lệ; hãy sao chép lại từ nền tảng.",
    "credentials_required": "Khi đổi địa chỉ, cần nhập lại thông tin xác thực trong cùng lần lưu.",
    "invalid_api_base": "Địa chỉ nền tảng phải là https tới một máy chủ công khai.",
    "invalid_base_url": "Địa chỉ dịch vụ đám mây phải là https tới một máy chủ công khai.",
    "invalid_local_model": "Hãy chọn một tệp .gguf trong thư mục models.",
    "invalid_allow_free_form": "Trả lời tự do cần một mô hình instruct hoặc mô hình đám mây.",
    "file_required": "Hãy chọn một tệp để tải lên.",
    "unsupported_file_type": "Hệ thống chỉ đọc được tệp .txt, .md, .csv và .pdf; hãy lưu tệp ở một trong các dạng đó.",
    "wrong_file_type": "Nội dung tệp không khớp với đuôi tệp; hãy lưu lại thành .txt, .md, .csv hoặc .pdf.",
    "empty_file": "Tệp này trống; không có gì để học.",
    "no_text": "Tệp không có chữ để học (tệp quét cần được nhận dạng chữ trước; bảng cần dòng tiêu đề và dữ liệu).",
    "encrypted_pdf": "Tệp PDF có mật khẩu; hãy lưu một bản không có mật khẩu rồi tải lên.",
    "unreadable_pdf": "Không đọc được tệp PDF; hãy xuất lại rồi thử lại.",
    "file_too_large": "Tệp lớn hơn mức hệ thống cho phép; hãy chia nhỏ tệp.",
    "embedder_unavailable": "Bộ tìm kiếm chưa sẵn sàng; hãy thử lại sau ít giây.",
    "model_unavailable": "Mô hình chưa sẵn sàng; hãy thử lại sau ít giây.",
    "invalid_text": "Hãy nhập một câu hỏi.",
    # automation (rules, flows, packs): the English detail follows in brackets on the automation pages, as it names
    # the exact field and limit (actions[0].text, match.keywords...)
    "invalid_rule": "Quy tắc chưa lưu được; hãy sửa ô được nêu.",
    "invalid_match": "Phần \"Khi\" của quy tắc chưa hợp lệ; hãy sửa từ khóa, mẫu, mã nút hoặc sự kiện.",
    "invalid_action": "Một hành động chưa hợp lệ; hãy sửa câu trả lời hoặc hành động được nêu.",
    "invalid_condition": "Một điều kiện chưa hợp lệ; hãy sửa điều kiện được nêu.",
    "unknown_field": "Có một trường không dùng được ở đây; hãy xóa trường đó.",
    "invalid_pattern": "Mẫu này không dùng được (có thể chạy quá chậm hoặc viết sai); hãy viết mẫu đơn giản hơn.",
    "slow_pattern": "Mẫu này chạy quá chậm trên tin nhắn; hãy viết mẫu đơn giản hơn.",
    "invalid_flow": "Luồng chưa lưu được; hãy sửa các vấn đề được nêu cạnh từng bước.",
    "invalid_secret": "Khóa ký của webhook cần dài hơn; hãy nhập lại.",
    "secret_required": "Địa chỉ webhook đã đổi nên cần nhập lại khóa ký (secret) của nó.",
    "invalid_url": "Địa chỉ webhook phải là https tới một máy chủ công khai.",
    "unknown_pack": "Không có gói khởi đầu này.",
    "invalid_values": "Thông tin cửa hàng cho gói chưa hợp lệ; hãy sửa ô được nêu.",
    "unknown_value": "Gói này không có ô thông tin đó.",
    "too_many_rules": "Cửa hàng đã có số quy tắc tối đa; hãy xóa bớt trước.",
}
