; VisPrompt for Krita: Windows installer (NSIS 3, per user, no administrator rights).
;
; Build with installer/windows/build_nsis.py, which defines:
;   VERSION       e.g. 0.1.0
;   FLAVOUR       cpu     the backend bundle is inside this installer (PAYLOAD_DIR)
;                 nvidia  the CUDA bundle (several GB, over NSIS's 2 GB limit) is downloaded
;                         at install time from GPU_PAYLOAD_URL and checked against
;                         GPU_PAYLOAD_SHA256 before it is unpacked
;   PAYLOAD_DIR   (cpu) the PyInstaller onedir folder: visprompt-server.exe + _internal\
;   PLUGIN_DIR    the unpacked plugin zip: visual_prompt.desktop, visual_prompt\, .action
;   OUTFILE       the installer to write
;   PLACEHOLDER   defined for test builds whose payload is a labelled stand-in
;
; Installs: the backend into %LOCALAPPDATA%\visprompt\server, the plugin into
; %APPDATA%\krita\pykrita (actions into %APPDATA%\krita\actions), enable_visual_prompt=true
; in the [python] section of %LOCALAPPDATA%\kritarc, %APPDATA%\visprompt\backend.json,
; Start-menu entries, an uninstaller and an Add/Remove Programs entry (HKCU).

Unicode true
ManifestDPIAware true
!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"

!ifndef VERSION
  !define VERSION "0.0.0"
!endif
!ifndef FLAVOUR
  !define FLAVOUR "cpu"
!endif
!ifndef PLUGIN_DIR
  !error "define PLUGIN_DIR (the unpacked plugin zip)"
!endif
!if "${FLAVOUR}" == "cpu"
  !ifndef PAYLOAD_DIR
    !error "define PAYLOAD_DIR (the onedir backend bundle)"
  !endif
!else if "${FLAVOUR}" == "nvidia"
  !ifndef GPU_PAYLOAD_URL
    !error "define GPU_PAYLOAD_URL (zip of the CUDA backend bundle)"
  !endif
  !ifndef GPU_PAYLOAD_SHA256
    !error "define GPU_PAYLOAD_SHA256 (its sha256)"
  !endif
!else
  !error "FLAVOUR must be cpu or nvidia"
!endif
!ifdef PLACEHOLDER
  !define LABEL " [TEST BUILD: PLACEHOLDER PAYLOAD, NOT FOR USERS]"
!else
  !define LABEL ""
!endif
!ifndef OUTFILE
  !define OUTFILE "visprompt-${VERSION}-windows-${FLAVOUR}-setup.exe"
!endif

!define APP "VisPrompt"
!define MODULE "visual_prompt"
!define EXE "visprompt-server.exe"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\VisPrompt"
!define KRITARC "$LOCALAPPDATA\kritarc"
!define PYKRITA "$APPDATA\krita\pykrita"
!define ACTIONS "$APPDATA\krita\actions"
!define CONFIG "$APPDATA\visprompt"
!define MENU "$SMPROGRAMS\VisPrompt"

Name "${APP} ${VERSION} (${FLAVOUR})${LABEL}"
Caption "${APP} ${VERSION} for Krita (${FLAVOUR})${LABEL}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\visprompt"
RequestExecutionLevel user
SetCompressor /SOLID lzma
ShowInstDetails show
ShowUninstDetails show

!define MUI_ABORTWARNING
!define MUI_WELCOMEPAGE_TEXT "This installs the VisPrompt backend server and the Visual Prompt \
plugin for Krita, for this Windows user only.$\r$\n$\r$\nClose Krita before you continue.\
$\r$\n$\r$\nThe published MAE-VQGAN weights are not included: the plugin offers to download \
them from their authors (research use only, CC BY-NC) after showing their terms.${LABEL}"
!define MUI_FINISHPAGE_TEXT "Start Krita, then open Settings > Dockers > Visual Prompt."
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Var JsonPath

; Double every backslash of $0 into $JsonPath, for a JSON string.
Function JsonEscape
  Push $1
  Push $2
  StrCpy $JsonPath ""
  StrCpy $1 0
  loop:
    StrCpy $2 $0 1 $1
    StrCmp $2 "" done
    StrCmp $2 "\" 0 +2
      StrCpy $JsonPath "$JsonPath\"
    StrCmp $2 '"' 0 +2
      StrCpy $JsonPath "$JsonPath\"
    StrCpy $JsonPath "$JsonPath$2"
    IntOp $1 $1 + 1
    Goto loop
  done:
  Pop $2
  Pop $1
FunctionEnd

Section "Backend server" SecBackend
  SectionIn RO
  RMDir /r "$INSTDIR\server"
  SetOutPath "$INSTDIR\server"
!if "${FLAVOUR}" == "cpu"
  File /r "${PAYLOAD_DIR}\*"
!else
  InitPluginsDir
  File "/oname=$PLUGINSDIR\fetch_payload.ps1" "fetch_payload.ps1"
  DetailPrint "Downloading the NVIDIA backend (several GB) from ${GPU_PAYLOAD_URL}"
  nsExec::ExecToLog 'powershell.exe -NoProfile -ExecutionPolicy Bypass -File \
    "$PLUGINSDIR\fetch_payload.ps1" -Url "${GPU_PAYLOAD_URL}" \
    -Sha256 "${GPU_PAYLOAD_SHA256}" -Dest "$INSTDIR\server"'
  Pop $0
  ${If} $0 != "0"
    MessageBox MB_ICONSTOP "The NVIDIA backend could not be downloaded or did not match its \
      checksum (code $0). Check the connection and run the installer again, or use the CPU \
      installer."
    Abort
  ${EndIf}
!endif
SectionEnd

Section "Krita plugin" SecPlugin
  SectionIn RO
  RMDir /r "${PYKRITA}\${MODULE}"
  SetOutPath "${PYKRITA}"
  File "${PLUGIN_DIR}\${MODULE}.desktop"
  SetOutPath "${PYKRITA}\${MODULE}"
  File /r "${PLUGIN_DIR}\${MODULE}\*"
!if /FileExists "${PLUGIN_DIR}\${MODULE}.action"
  SetOutPath "${ACTIONS}"
  File "${PLUGIN_DIR}\${MODULE}.action"
!endif
  ; Remember kritarc's value once (a reinstall must not record our own "true").
  ReadRegStr $0 HKCU "${UNINST_KEY}" "KritarcPrevious"
  ${If} $0 == ""
    ${If} ${FileExists} "${KRITARC}"
      ClearErrors
      ReadINIStr $1 "${KRITARC}" "python" "enable_${MODULE}"
      ${If} ${Errors}
        StrCpy $1 "<no key>"
      ${EndIf}
    ${Else}
      StrCpy $1 "<no file>"
    ${EndIf}
    WriteRegStr HKCU "${UNINST_KEY}" "KritarcPrevious" $1
  ${EndIf}
  WriteINIStr "${KRITARC}" "python" "enable_${MODULE}" "true"
  DetailPrint "Enabled the plugin in ${KRITARC}"
SectionEnd

Section "Settings" SecSettings
  SectionIn RO
  CreateDirectory "${CONFIG}"
  StrCpy $0 "$INSTDIR\server\${EXE}"
  Call JsonEscape
  FileOpen $1 "${CONFIG}\backend.json" w
  FileWrite $1 '{"executable": "$JsonPath", "version": "${VERSION}", \
    "flavour": "${FLAVOUR}", "installed_by": "visprompt-windows-installer"}$\r$\n'
  FileClose $1
  ; The plugin looks in %LOCALAPPDATA%\visprompt\server by itself; elsewhere tell it.
  ${If} "$INSTDIR" != "$LOCALAPPDATA\visprompt"
  ${AndIfNot} ${FileExists} "${CONFIG}\krita_plugin.json"
    FileOpen $1 "${CONFIG}\krita_plugin.json" w
    FileWrite $1 '{"backend_path": "$JsonPath"}$\r$\n'
    FileClose $1
    WriteRegDWORD HKCU "${UNINST_KEY}" "WroteSettings" 1
  ${EndIf}
SectionEnd

Section "Start menu" SecMenu
  SetOutPath "$INSTDIR\server"
  CreateDirectory "${MENU}"
  CreateShortcut "${MENU}\VisPrompt server.lnk" "$INSTDIR\server\${EXE}" "" \
    "$INSTDIR\server\${EXE}" 0 SW_SHOWNORMAL "" "Run the VisPrompt backend on 127.0.0.1:7480"
  CreateShortcut "${MENU}\Uninstall VisPrompt.lnk" "$INSTDIR\uninstall.exe"
SectionEnd

Section "-Uninstaller"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP} for Krita (${FLAVOUR})${LABEL}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "VisPrompt"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\server\${EXE}"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" "$0"
SectionEnd

Section "Uninstall"
  RMDir /r "$INSTDIR\server"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"  ; only when empty: downloaded models stay
  RMDir /r "${PYKRITA}\${MODULE}"
  Delete "${PYKRITA}\${MODULE}.desktop"
  Delete "${ACTIONS}\${MODULE}.action"
  ReadRegStr $0 HKCU "${UNINST_KEY}" "KritarcPrevious"
  ${If} $0 == "<no key>"
  ${OrIf} $0 == "<no file>"
    DeleteINIStr "${KRITARC}" "python" "enable_${MODULE}"
  ${ElseIf} $0 != ""
    WriteINIStr "${KRITARC}" "python" "enable_${MODULE}" "$0"
  ${EndIf}
  Delete "${CONFIG}\backend.json"
  ReadRegDWORD $0 HKCU "${UNINST_KEY}" "WroteSettings"
  ${If} $0 == 1
    Delete "${CONFIG}\krita_plugin.json"
  ${EndIf}
  RMDir "${CONFIG}"  ; only when empty: the token and your settings stay
  Delete "${MENU}\VisPrompt server.lnk"
  Delete "${MENU}\Uninstall VisPrompt.lnk"
  RMDir "${MENU}"
  DeleteRegKey HKCU "${UNINST_KEY}"
SectionEnd
