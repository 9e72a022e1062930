"""Staff accounts in a browser: an admin's 工作人员账号 page and its unlock codes, 修改密码 for everyone."""

from playwright.sync_api import expect

from server.db import db
from server.users.models import StaffAccount


def _needs_unlock_code(app, staff_id):
    with app.app_context():
        db.session.get_one(StaffAccount, staff_id).unlock_required = True
        db.session.commit()


def _unlock_required(app, staff_id):
    with app.app_context():
        return db.session.get_one(StaffAccount, staff_id).unlock_required


def _login_form(page, username, password):
    page.goto("/console/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()


def test_an_admin_sees_the_locked_account_on_the_today_page_and_unlocks_it_with_a_one_time_code(
    app, page, console_login, make_staff, browser, live_url
):
    locked = make_staff(org="C1")
    _needs_unlock_code(app, locked.id)
    console_login(make_staff(role="admin", org="S1"))
    counter = page.locator('[data-counter="账号待解锁"]')
    expect(counter).to_have_text("1")
    counter.click()
    row = page.locator(f"#staff-{locked.id}")
    expect(row).to_contain_text("需要解锁码")
    row.get_by_role("button", name="生成解锁码").click()
    code = page.locator("#unlock-code").inner_text()
    assert len(code) == 8

    desk = browser.new_context(base_url=live_url, locale="zh-CN")
    try:
        other = desk.new_page()
        _login_form(other, locked.username, locked.password)
        expect(other.get_by_role("alert")).to_be_visible()
        expect(other.get_by_label("解锁码")).to_be_visible()  # the right password alone is not enough
        other.get_by_label("密码", exact=True).fill(locked.password)
        other.get_by_label("解锁码").fill(code.lower())  # read out by phone: case does not matter
        other.get_by_role("button", name="登录").click()
        other.wait_for_url("**/console/")
    finally:
        desk.close()
    assert _unlock_required(app, locked.id) is False
    page.goto("/console/")
    expect(page.locator('[data-counter="账号待解锁"]')).to_have_text("0")


def test_staff_who_are_not_admins_see_neither_the_counter_nor_the_page(app, page, console_login, make_staff):
    _needs_unlock_code(app, make_staff(org="C1").id)
    console_login(make_staff(org="C1"))
    expect(page.locator('[data-counter="党员报到待审核"]')).to_be_visible()
    expect(page.locator('[data-counter="账号待解锁"]')).to_have_count(0)
    expect(page.get_by_role("link", name="工作人员账号")).to_have_count(0)
    page.goto("/console/staff")
    expect(page.locator("#staff-accounts")).to_have_count(0)


def test_changing_the_password_logs_out_the_other_browser_and_the_new_password_works(
    page, console_login, make_staff, browser, live_url
):
    staff = make_staff(org="C1")
    other_context = browser.new_context(base_url=live_url, locale="zh-CN")
    try:
        other = other_context.new_page()
        _login_form(other, staff.username, staff.password)
        other.wait_for_url("**/console/")

        console_login(staff)
        page.get_by_role("link", name="修改密码").click()
        page.get_by_label("当前密码").fill(staff.password)
        page.get_by_label("新密码（至少 8 个字符）").fill("new-horse-battery-2")
        page.get_by_label("再次输入新密码").fill("new-horse-battery-3")
        page.get_by_role("button", name="修改密码").click()
        expect(page.get_by_role("alert")).to_have_text("两次输入的新密码不一致")

        page.get_by_label("当前密码").fill(staff.password)
        page.get_by_label("新密码（至少 8 个字符）").fill("new-horse-battery-2")
        page.get_by_label("再次输入新密码").fill("new-horse-battery-2")
        page.get_by_role("button", name="修改密码").click()
        expect(page.get_by_text("密码已修改，其他设备上的登录已全部退出")).to_be_visible()

        page.goto("/console/")  # this browser stays logged in
        expect(page.get_by_role("heading", name="今日待办")).to_be_visible()
        other.goto("/console/")
        other.wait_for_url("**/console/login**")
    finally:
        other_context.close()

    page.get_by_role("button", name="退出").click()
    _login_form(page, staff.username, staff.password)
    expect(page.get_by_role("alert")).to_be_visible()  # the old password no longer opens the console
    _login_form(page, staff.username, "new-horse-battery-2")
    page.wait_for_url("**/console/")
