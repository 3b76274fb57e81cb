// Administration, for admins: users (add, password, disable/enable, unlock,
// log out everywhere, delete), roles (add, grants on a camera, a group or
// everything, members, delete) and camera groups (add with cameras, add and
// remove a camera, delete). Export profiles are managed with the custody
// CLI: the API has no endpoint for them.

import * as api from "./api.js";
import * as state from "./state.js";
import { h, clear, toast, modal, field, showTime, parseTime } from "./ui.js";

const FUNCTIONS = ["live", "playback", "export", "bookmark", "evidence_lock", "audit_read", "admin"];

export function adminScreen() {
  const users = h("div", { id: "admin-users" });
  const roles = h("div", { id: "admin-roles" });
  const groups = h("div", { id: "admin-groups" });
  // what a grant's scope may be picked from: *, the groups, the cameras
  const scopes = h("datalist", { id: "admin-scopes" });
  const el = h("section", { class: "screen admin", "aria-label": "Administration" },
    h("div", { class: "toolbar" }, h("h1", {}, "Administration")),
    h("div", { class: "cols" },
      h("section", { class: "panel" }, h("h2", {}, "Users"), users),
      h("section", { class: "panel" }, h("h2", {}, "Roles and grants"), roles),
      h("section", { class: "panel" }, h("h2", {}, "Camera groups"), groups)),
    scopes,
    h("p", { class: "muted" }, "Export profiles are managed with the custody command (custody profile): the API offers no endpoint for them."));
  let roleNames = [];

  async function act(f, ok) {
    try {
      await f();
      if (ok) toast(ok);
    } catch (x) {
      toast(x.message, "error");
    }
    load();
  }

  async function load() {
    let u;
    let r;
    let g;
    let c;
    try {
      [u, r, g, c] = await Promise.all([api.get("/users"), api.get("/roles"), api.get("/groups"), api.get("/cameras")]);
    } catch (x) {
      clear(users).append(h("p", { class: "bad" }, x.message));
      return;
    }
    const cams = c.cameras.map((x) => x.name);
    showGroups(g.groups, cams);
    clear(scopes).append(...["*", ...g.groups.map((x) => `group:${x.name}`), ...cams].map((v) => h("option", { value: v })));
    roleNames = r.roles.map((x) => x.name);
    clear(users);
    const t = h("table", { class: "data" }, h("thead", {}, h("tr", {}, ["User", "Roles", "State", "Password changed", ""].map((x) => h("th", { scope: "col" }, x)))));
    const tb = h("tbody");
    for (const x of u.users) {
      const locked = parseTime(x.locked_until);
      const E = api.enc(x.name);
      tb.append(h("tr", { "data-user": x.name },
        h("td", {}, x.name), h("td", {}, x.roles.join(", ")),
        h("td", {}, x.disabled ? "disabled" : "active", locked && locked > Date.now() ? ` · locked until ${showTime(locked, false)}` : ""),
        h("td", {}, showTime(parseTime(x.password_changed), false)),
        h("td", { class: "actions" },
          h("button", { type: "button", class: "small", onclick: () => passwordDialog(x.name) }, "Password…"),
          h("button", { type: "button", class: "small", onclick: () => act(() => api.call("POST", `/users/${E}/${x.disabled ? "enable" : "disable"}`), `${x.name} ${x.disabled ? "enabled" : "disabled"}`) }, x.disabled ? "Enable" : "Disable"),
          locked ? h("button", { type: "button", class: "small", onclick: () => act(() => api.call("POST", `/users/${E}/unlock`), `${x.name} unlocked`) }, "Unlock") : null,
          h("button", { type: "button", class: "small", onclick: () => act(() => api.call("POST", `/users/${E}/revoke`), `${x.name} logged out everywhere`) }, "Log out everywhere"),
          x.name !== state.user() ? h("button", { type: "button", class: "small danger", onclick: () => { if (confirm(`Delete user ${x.name}?`)) act(() => api.call("DELETE", `/users/${E}`), `${x.name} deleted`); } }, "Delete") : null)));
    }
    t.append(tb);
    users.append(t, h("button", { type: "button", onclick: addUser }, "Add user…"));

    clear(roles);
    for (const role of r.roles) {
      const R = api.enc(role.name);
      const grantFn = h("select", { "aria-label": "Function" }, FUNCTIONS.map((f) => h("option", { value: f }, f)));
      const grantScope = h("input", { "aria-label": "Scope", placeholder: "camera, group:NAME or *", size: 16, list: "admin-scopes" });
      const member = h("select", { "aria-label": "User" }, u.users.filter((x) => !role.users.includes(x.name)).map((x) => h("option", { value: x.name }, x.name)));
      const gForm = h("form", { class: "inline" }, grantFn, " on ", grantScope, h("button", { type: "submit", class: "small" }, "Grant"));
      gForm.addEventListener("submit", (e) => {
        e.preventDefault();
        act(() => api.call("POST", `/roles/${R}/grants`, { function: grantFn.value, scope: grantScope.value.trim() }), "Granted");
      });
      const mForm = h("form", { class: "inline" }, member, h("button", { type: "submit", class: "small" }, "Add member"));
      mForm.addEventListener("submit", (e) => {
        e.preventDefault();
        if (member.value) act(() => api.call("POST", `/roles/${R}/users`, { user: member.value }), "Member added");
      });
      roles.append(h("article", { class: "role", "data-role": role.name },
        h("h3", {}, role.name, " ", h("button", { type: "button", class: "small danger", onclick: () => { if (confirm(`Delete role ${role.name}?`)) act(() => api.call("DELETE", `/roles/${R}`), "Role deleted"); } }, "Delete")),
        h("ul", { class: "list" }, role.grants.map((g) => h("li", {}, `${g.function} on ${g.scope} `,
          h("button", { type: "button", class: "small", onclick: () => act(() => api.call("DELETE", `/roles/${R}/grants`, { function: g.function, scope: g.scope }), "Revoked") }, "Revoke")))),
        gForm,
        h("p", {}, "Members: ", role.users.length ? role.users.map((m) => h("span", { class: "chip" }, m, " ",
          h("button", { type: "button", class: "icon small", "aria-label": `Remove ${m} from ${role.name}`, onclick: () => act(() => api.call("DELETE", `/roles/${R}/users/${api.enc(m)}`), "Member removed") }, "×"))) : "none"),
        mForm));
    }
    const rn = h("input", { "aria-label": "New role name", placeholder: "new role", size: 16 });
    const rf = h("form", { class: "inline" }, rn, h("button", { type: "submit" }, "Add role"));
    rf.addEventListener("submit", (e) => {
      e.preventDefault();
      act(() => api.call("POST", "/roles", { name: rn.value.trim() }), "Role added");
    });
    roles.append(rf);
  }

  // The camera groups with their cameras; cams: every camera, to pick from.
  function showGroups(list, cams) {
    clear(groups);
    for (const grp of list) {
      const G = api.enc(grp.name);
      const cam = h("select", { "aria-label": `Camera to add to ${grp.name}` }, cams.filter((x) => !grp.cameras.includes(x)).map((x) => h("option", { value: x }, x)));
      const cForm = h("form", { class: "inline" }, cam, h("button", { type: "submit", class: "small" }, "Add camera"));
      cForm.addEventListener("submit", (e) => {
        e.preventDefault();
        if (cam.value) act(() => api.call("POST", `/groups/${G}/cameras`, { camera: cam.value }), "Camera added");
      });
      groups.append(h("article", { class: "role", "data-group": grp.name },
        h("h3", {}, grp.name, " ", h("button", { type: "button", class: "small danger", onclick: () => { if (confirm(`Delete camera group ${grp.name}? Every grant on group:${grp.name} goes with it.`)) act(() => api.call("DELETE", `/groups/${G}`), "Group deleted"); } }, "Delete")),
        h("p", {}, "Cameras: ", grp.cameras.length ? grp.cameras.map((m) => h("span", { class: "chip", "data-camera": m }, m, " ",
          h("button", { type: "button", class: "icon small", "aria-label": `Remove ${m} from ${grp.name}`, onclick: () => act(() => api.call("DELETE", `/groups/${G}/cameras/${api.enc(m)}`), "Camera removed") }, "×"))) : "none"),
        cForm));
    }
    const gn = h("input", { id: "new-group-name", "aria-label": "New group name", placeholder: "new group", size: 16, maxlength: 64 });
    const boxes = cams.map((x) => h("input", { type: "checkbox", value: x }));
    const gf = h("form", { id: "new-group" }, h("p", { class: "inline" }, gn),
      h("fieldset", {}, h("legend", {}, "Cameras"), cams.length ? cams.map((x, i) => h("label", { class: "check" }, boxes[i], x)) : "no cameras"),
      h("button", { type: "submit" }, "Add group"));
    gf.addEventListener("submit", (e) => {
      e.preventDefault();
      act(() => api.call("POST", "/groups", { name: gn.value.trim(), cameras: boxes.filter((b) => b.checked).map((b) => b.value) }), "Group added");
    });
    groups.append(gf);
  }

  function addUser() {
    const name = h("input", { required: true, maxlength: 64, autocomplete: "off" });
    const pw1 = h("input", { type: "password", autocomplete: "new-password" });
    const pw2 = h("input", { type: "password", autocomplete: "new-password" });
    const boxes = roleNames.map((r) => h("input", { type: "checkbox", value: r }));
    const err = h("p", { class: "form-error", role: "alert" });
    const form = h("form", {}, field("User name", name), field("Password", pw1, "At least 12 characters (the server's policy applies)"), field("Password again", pw2),
      h("fieldset", {}, h("legend", {}, "Roles"), roleNames.map((r, i) => h("label", { class: "check" }, boxes[i], r))), err,
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Add user")));
    const { close } = modal("Add user", form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (pw1.value !== pw2.value) return void (err.textContent = "The two passwords differ.");
      try {
        await api.call("POST", "/users", { name: name.value.trim(), password: pw1.value, roles: boxes.filter((b) => b.checked).map((b) => b.value) });
        close();
        toast("User added");
        load();
      } catch (x) {
        err.textContent = x.message;
      }
    });
  }

  function passwordDialog(user) {
    const own = user === state.user();
    const cur = h("input", { type: "password", autocomplete: "current-password" });
    const pw1 = h("input", { type: "password", autocomplete: "new-password" });
    const pw2 = h("input", { type: "password", autocomplete: "new-password" });
    const err = h("p", { class: "form-error", role: "alert" });
    const form = h("form", {}, own ? field("Your current password", cur) : null, field("New password", pw1), field("New password again", pw2), err,
      h("p", { class: "muted" }, own ? "Every session of yours ends, this one too." : `Every session of ${user} ends.`),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Change password")));
    const { close } = modal(`Password of ${user}`, form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (pw1.value !== pw2.value) return void (err.textContent = "The two passwords differ.");
      try {
        const body = { password: pw1.value };
        if (own) body.current_password = cur.value;
        await api.call("POST", `/users/${api.enc(user)}/password`, body);
        close();
        toast("Password changed");
        load();
      } catch (x) {
        err.textContent = x.message;
      }
    });
  }

  load();
  return { el, unmount() {} };
}
